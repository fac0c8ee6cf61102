"""python -m ml_worker.training {train|evaluate} ... (the same as the modules' own CLIs)."""

import sys

from ml_worker.training import evaluate, train


def run(argv: list[str]) -> None:
    if not argv or argv[0] not in ("train", "evaluate"):
        print("usage: python -m ml_worker.training {train|evaluate} [options]  (-h for each)")
        raise SystemExit(2)
    if argv[0] == "train":
        train.main(train.parse_args(argv[1:]))
    else:
        evaluate.main(evaluate.get_args_parser().parse_args(argv[1:]))


if __name__ == "__main__":
    run(sys.argv[1:])
