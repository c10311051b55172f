"""The resume checkpoint is litmlp's own: no other checkpoint callback may write over it."""

from __future__ import annotations

import pytest

from litmlp.errors import LitmlpError
from litmlp.runtime.resume import ResumeCheckpoint
from litmlp.tasks.build import build_callbacks, build_trainer


def set_up(cfg):
    callbacks = build_callbacks(cfg.callbacks)
    trainer = build_trainer(cfg.trainer, callbacks, [])
    resume = next(callback for callback in callbacks if isinstance(callback, ResumeCheckpoint))
    resume.setup(trainer, trainer.lightning_module, "fit")


@pytest.mark.parametrize(
    "override", ["callbacks.model_checkpoint.save_last=true", "callbacks.model_checkpoint.filename=last"]
)
def test_a_best_checkpoint_that_would_overwrite_the_resume_checkpoint_is_refused(make_config, override):
    with pytest.raises(LitmlpError, match=r"would write .*checkpoints/last\.ckpt, the resume checkpoint"):
        set_up(make_config("trainer=cpu", override))


def test_the_default_checkpoints_live_side_by_side(make_config):
    set_up(make_config("trainer=cpu"))
    set_up(
        make_config(
            "trainer=cpu",
            "callbacks.model_checkpoint.save_last=true",
            "callbacks.model_checkpoint.dirpath=elsewhere",
        )
    )
