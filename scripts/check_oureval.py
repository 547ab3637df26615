#!/usr/bin/env python3
"""Score the gold outputs of s2h datasets with the authors' evaluator (docs/scoring.md).

For each dataset directory (written by `generate ... --formats tsv,oureval`) and each TSV in it
(`vlmevalkit.tsv`, `OurEval_*.tsv`), this script
  1. loads the TSV the way VLMEvalKit's TSVDataset does (pandas `read_csv(sep="\\t")`, rows
     with an empty `image` dropped when the column exists) and reports how many rows survive;
  2. builds the result file VLMEvalKit's inference would write if the model answered every row
     with the record's gold output (the TSV's columns plus `prediction`, as .xlsx);
  3. runs the authors' scorer for the task on it (`OurEval_Table_eval`, `OurEval_Grid_eval`,
     `OurEval_Analogy_eval`) and prints the scores it writes, or the exception it raises.

The scorer is not part of s2h: pass the path of `vlmeval/evaluate/OurEval.py` from the authors'
release (VLM_S2H). Its `from vlmeval.smp import *` is served by a small stand-in defined here,
so their whole VLMEvalKit need not be installed. Needs pandas, numpy, openpyxl and xlsxwriter;
never run in CI.

    python scripts/check_oureval.py --scorer PATH/TO/OurEval.py data/ctr-hard-text data/grid-simple-image
"""

import argparse
import importlib.util
import json
import logging
import os
import os.path as osp
import sys
import tempfile
import types

import numpy as np
import pandas as pd

SCORERS = {
    "ctr": "OurEval_Table_eval",
    "tr": "OurEval_Table_eval",
    "grid": "OurEval_Grid_eval",
    "va": "OurEval_Analogy_eval",
}


def smp_stand_in():
    """The names the scorer takes from `vlmeval.smp`: file loading and dumping, a logger."""

    def load(path):
        if path.endswith(".xlsx"):
            return pd.read_excel(path)
        if path.endswith(".tsv"):
            return pd.read_csv(path, sep="\t")
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def dump(data, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)

    module = types.ModuleType("vlmeval.smp")
    module.load = load
    module.dump = dump
    module.get_logger = logging.getLogger
    module.load_env = lambda: None
    module.np = np
    module.pd = pd
    module.osp = osp
    module.os = os
    module.argparse = argparse
    module.__all__ = ["load", "dump", "get_logger", "load_env", "np", "pd", "osp", "os", "argparse"]
    return module


def load_scorer(path):
    package = types.ModuleType("vlmeval")
    package.__path__ = []
    sys.modules.setdefault("vlmeval", package)
    sys.modules["vlmeval.smp"] = smp_stand_in()
    spec = importlib.util.spec_from_file_location("oureval_scorer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_records(dataset):
    records = {}
    with open(osp.join(dataset, "records.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                records[r["id"]] = r
    return records


def check(scorer, dataset, tsv, records, work):
    data = pd.read_csv(osp.join(dataset, tsv), sep="\t")
    rows = len(data)
    if "image" in data:
        data = data[~pd.isna(data["image"])]
        # Scoring never reads the image; an .xlsx cell could not hold it whole anyway.
        data = data.drop(columns=["image"])
    kept = len(data)
    result = {"dataset": dataset, "tsv": tsv, "rows": rows, "loaded_by_vlmevalkit": kept}
    if kept == 0:
        result["scores"] = None
        return result
    by_id = [records[i] for i in data["id"]]
    data = data.assign(prediction=[r["target"] for r in by_id])
    tasks = sorted({r["task"] for r in by_id})
    name = tsv[: -len(".tsv")]
    xlsx = osp.join(work, f"gold_{osp.basename(osp.normpath(dataset))}_{name}.xlsx")
    data.to_excel(xlsx, index=False, engine="xlsxwriter")
    try:
        getattr(scorer, SCORERS[tasks[0]])(xlsx)
        with open(xlsx.replace(".xlsx", "_score.json"), encoding="utf-8") as f:
            scores = json.load(f)
        scores.pop("is_correct", None)
        result["scores"] = scores
    except Exception as e:  # the point is to see what their scorer does
        result["error"] = f"{type(e).__name__}: {e}"
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scorer", required=True, help="path of the authors' OurEval.py")
    parser.add_argument("datasets", nargs="+", help="s2h dataset directories")
    args = parser.parse_args()
    scorer = load_scorer(args.scorer)
    with tempfile.TemporaryDirectory() as work:
        for dataset in args.datasets:
            records = read_records(dataset)
            tsvs = sorted(
                f for f in os.listdir(dataset)
                if f == "vlmevalkit.tsv" or (f.startswith("OurEval_") and f.endswith(".tsv"))
            )
            for tsv in tsvs:
                print(json.dumps(check(scorer, dataset, tsv, records, work)))


if __name__ == "__main__":
    main()
