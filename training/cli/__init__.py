"""The console scripts, each thin (parse the options, call the library, print): `training.cli.train` (emoje-train),
`training.cli.evaluate` (emoje-evaluate), `training.cli.predict` (emoje-predict), `training.cli.demo` (emoje-demo),
and `training.cli.errors`, their one error boundary."""
