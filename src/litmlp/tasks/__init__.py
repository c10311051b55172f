"""The commands behind the CLI. Each gets a composed config, builds, runs and writes its results."""
