"""Data, priors, evaluation, plotting and the training loop shared by the three schemes."""

import sys


def _one_line_interrupt(kind, value, traceback, previous=sys.excepthook):
    # Ctrl-C while a script still imports TensorFlow (seconds): nothing has been written yet, so
    # one line instead of the import's traceback. main() reports the later ones itself.
    if issubclass(kind, KeyboardInterrupt):
        print("error: interrupted", file=sys.stderr)
    else:
        previous(kind, value, traceback)


sys.excepthook = _one_line_interrupt
