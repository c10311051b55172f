"""A Hydra launcher that runs a sweep's jobs in parallel on this machine, in processes forked from the
sweep's own (imports already paid), one GPU per job when the machine has GPUs. Select it with
`hydra/launcher=parallel`."""
