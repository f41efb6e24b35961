"""Background work: the job runner, the Qt-free stage functions, the pipeline that supersedes stale
requests, importing, dictionary training and exports. Nothing here imports a view or a dialog."""
