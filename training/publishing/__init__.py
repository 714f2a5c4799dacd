"""Publishing a trained model: `training.publishing.export` (the folder a Hub repository holds, and the upload) and
`training.publishing.charts` (the per-scenario chart and the conversation timeline; matplotlib optional)."""
