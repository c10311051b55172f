"""A Hydra sweeper that searches with the current Optuna release (the released hydra-optuna-sweeper pins
optuna<3, whose sqlite storage fails under SQLAlchemy 2). Hydra finds it in the `hydra_plugins`
namespace package; select it with `hydra/sweeper=litmlp_optuna` (the `hparams_search` configs do)."""
