"""The workflow the command-line entry points call: the record of a training run (``run_record``), the run
directory's checks (``run_dir``), a finished run read back (``trained_run``), the finish path after training
(``deployment``: export -> verify -> deliver), the one device-file function (``device_file``) and the study's
cells (``sweep_cells``). The entry points themselves (``edge_gmp.pipeline``, ``sweep``, ``compress``, ...) stay
at the top level."""
