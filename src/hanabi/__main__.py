"""`python -m hanabi` (and the `hanabi` command): the bot process, `hanabi.cli.main`.

The garbage collector is off while the bot's modules load: each collection during the imports walked every
object created so far, about 0.3 s of a 1.7 s start (docs/benchmarks.md, section 26). `hanabi.cli.run` turns
it back on once the bot has started.
"""

from __future__ import annotations

import gc


def main() -> None:
    gc.disable()
    from hanabi.cli import main as run_bot

    run_bot()


if __name__ == "__main__":
    main()
