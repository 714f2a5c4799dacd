"""The `emoje-demo` run: `training.demo.corpus` (what it trains on: MELD's text annotations or synthetic features)
and `training.demo.run` (the steps). The command is `training.cli.demo`."""
