from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from litmlp.data import EpochBatchSampler, InMemoryLoader
from litmlp.models import MLP
from litmlp.modules import Classifier


def make_classifier(num_classes: int = 3) -> Classifier:
    torch.manual_seed(0)
    return Classifier(
        MLP(6, num_classes, hidden=[8]), num_classes, optimizer=lambda p: torch.optim.SGD(p, lr=0.1)
    )


def loader(features: torch.Tensor, targets: torch.Tensor, batch_size: int = 7) -> InMemoryLoader:
    return InMemoryLoader(features, targets, EpochBatchSampler(len(features), batch_size, shuffle=False))


def quiet_trainer(max_epochs: int) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        max_epochs=max_epochs,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )


def test_forward_returns_logits_of_the_net():
    model = make_classifier()
    x = torch.randn(5, 6)
    assert torch.equal(model(x), model.net(x))


def test_epoch_metrics_equal_straightforward_per_step_updates():
    """Accumulating outputs and updating once per epoch gives the values of per-step torchmetrics updates."""
    torch.manual_seed(1)
    features, targets = torch.randn(103, 6), torch.randint(0, 3, (103,))
    model = make_classifier()
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    results = trainer.test(model, dataloaders=loader(features, targets), verbose=False)[0]

    accuracy, f1 = MulticlassAccuracy(3, average="micro"), MulticlassF1Score(3, average="macro")
    loss_sum = 0.0
    with torch.no_grad():
        for x, y in loader(features, targets):
            logits = model(x)
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            accuracy.update(logits, y)
            f1.update(logits, y)
    assert results["test/acc"] == pytest.approx(accuracy.compute().item(), abs=1e-7)
    assert results["test/f1"] == pytest.approx(f1.compute().item(), abs=1e-7)
    assert results["test/loss"] == pytest.approx(loss_sum / 103, rel=1e-6)


def test_training_reduces_the_loss_and_tracks_best_val_accuracy():
    torch.manual_seed(2)
    features = torch.randn(300, 6)
    targets = (features[:, 0] > 0).long() + (features[:, 1] > 0).long()
    model = make_classifier()
    trainer = quiet_trainer(max_epochs=8)
    before = F.cross_entropy(model(features), targets).item()
    train = InMemoryLoader(features, targets, EpochBatchSampler(300, 32, shuffle=True, seed=0))
    trainer.fit(model, train, loader(features, targets, 100))
    assert trainer.callback_metrics["train/loss"] < before
    assert float(model.val_acc_best.compute()) == pytest.approx(
        float(trainer.callback_metrics["val/acc_best"])
    )
    assert model.last_val_confusion is not None
    assert int(model.last_val_confusion.sum()) == 300


def test_predict_step_returns_probabilities_and_classes():
    model = make_classifier()
    out = model.predict_step((torch.randn(9, 6), torch.zeros(9)), 0)
    assert torch.allclose(out["probs"].sum(dim=1), torch.ones(9))
    assert torch.equal(out["preds"], out["probs"].argmax(dim=1))


def test_best_val_accuracy_survives_a_checkpoint():
    model = make_classifier()
    model.val_acc_best.update(torch.tensor(0.875))
    restored = make_classifier()
    restored.load_state_dict(model.state_dict())
    assert float(restored.val_acc_best.compute()) == 0.875


def test_a_probability_metric_is_one_more_entry():
    from torchmetrics.classification import MulticlassAUROC

    torch.manual_seed(0)
    features = torch.randn(120, 6)
    targets = (features[:, 0] > 0).long() + (features[:, 1] > 0).long()
    model = Classifier(
        MLP(6, 3), 3, optimizer=lambda p: torch.optim.SGD(p, lr=0.1), metrics={"auroc": MulticlassAUROC(3)}
    )
    trainer = quiet_trainer(max_epochs=1)
    (results,) = trainer.test(model, loader(features, targets, 40), verbose=False)
    with torch.no_grad():
        expected = MulticlassAUROC(3)(torch.softmax(model(features), dim=1), targets)
    assert results["test/auroc"] == pytest.approx(float(expected), abs=1e-6)


def test_scheduler_is_attached_with_its_monitor():
    model = Classifier(
        MLP(6, 3),
        3,
        optimizer=lambda p: torch.optim.SGD(p, lr=0.1),
        scheduler=lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=2),
    )
    config = model.configure_optimizers()
    assert isinstance(config["lr_scheduler"]["scheduler"], torch.optim.lr_scheduler.StepLR)
    assert config["lr_scheduler"]["monitor"] == "val/loss"


def test_diverged_training_stops_with_an_error_naming_the_learning_rate():
    from litmlp.errors import LitmlpError

    torch.manual_seed(0)
    features, targets = torch.randn(256, 6), torch.randint(0, 3, (256,))
    model = Classifier(MLP(6, 3), 3, optimizer=lambda p: torch.optim.SGD(p, lr=1e12))
    trainer = quiet_trainer(max_epochs=3)
    train = InMemoryLoader(features, targets, EpochBatchSampler(256, 16, shuffle=True, seed=0))
    with pytest.raises(LitmlpError, match=r"train/loss is (nan|inf) in epoch 0: training diverged"):
        trainer.fit(model, train)
