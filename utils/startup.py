"""Imported by each script before anything else of the project: a Ctrl-C while TensorFlow loads (seconds)
ends in one line, not the import's traceback. Only the scripts import it; the library changes no
interpreter state when imported."""

import sys


def _one_line_interrupt(kind, value, traceback, previous=sys.excepthook):
    # Nothing has been written yet, so one line is all there is to say. main() reports the later ones itself.
    if issubclass(kind, KeyboardInterrupt):
        print("error: interrupted", file=sys.stderr)
    else:
        previous(kind, value, traceback)


sys.excepthook = _one_line_interrupt
