from __future__ import annotations

import torch

from litmlp.models import MLP


class TutorialNeuralNetwork(torch.nn.Module):
    """Verbatim from "PyTorch in one hour" (Raschka), the network litmlp's default model must equal."""

    def __init__(self, num_inputs: int, num_outputs: int) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(num_inputs, 30),
            torch.nn.ReLU(),
            torch.nn.Linear(30, 20),
            torch.nn.ReLU(),
            torch.nn.Linear(20, num_outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def test_default_mlp_has_the_tutorials_2213_parameters():
    model = MLP(50, 3)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 2213


def test_same_seed_gives_the_tutorials_initial_parameters_bitwise():
    torch.manual_seed(123)
    tutorial = TutorialNeuralNetwork(50, 3)
    torch.manual_seed(123)
    ours = MLP(50, 3, hidden=(30, 20))
    theirs = tutorial.state_dict()
    assert list(ours.state_dict()) == list(theirs)
    for name, tensor in ours.state_dict().items():
        assert torch.equal(tensor, theirs[name]), name


def test_same_weights_give_the_tutorials_logits():
    tutorial = TutorialNeuralNetwork(50, 3)
    ours = MLP(50, 3)
    ours.load_state_dict(tutorial.state_dict())
    x = torch.randn(8, 50)
    assert torch.equal(ours(x), tutorial(x))


def test_empty_hidden_is_a_single_linear_layer():
    model = MLP(50, 3, hidden=[])
    assert [type(layer) for layer in model.layers] == [torch.nn.Linear]
    assert model(torch.randn(4, 50)).shape == (4, 3)


def test_sizes_follow_arguments():
    model = MLP(7, 5, hidden=[16, 8, 4])
    widths = [
        (layer.in_features, layer.out_features)
        for layer in model.layers
        if isinstance(layer, torch.nn.Linear)
    ]
    assert widths == [(7, 16), (16, 8), (8, 4), (4, 5)]
