"""The tunable test backend's export path: its eval step, after writing a file to the folder."""

LABEL = "test export"
DESCRIPTION = "the eval step, after writing a file to the export folder"


def export(backend, model, x, folder):
    (folder / "model.txt").write_text("exported")
    return backend.eval_step(model)
