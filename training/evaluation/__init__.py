"""Missing-modality evaluation, the library: `training.evaluation.scenarios` (which modalities each scenario keeps),
`training.evaluation.metrics` (weighted-F1, macro-F1, accuracy, UAR; also the ``erc_metric`` `evaluate` module
beside them) and `training.evaluation.evaluate` (`evaluate_model`, the table). The command is `training.cli.evaluate`."""
