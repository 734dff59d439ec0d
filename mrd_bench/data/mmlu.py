"""MMLU (Hendrycks et al., 2021), the utility check beside WMDP; hub id cais/mmlu.

Splits: `test` and `dev` over all 57 subjects, or one subject as `test/<subject>`.
"""
from __future__ import annotations

from pathlib import Path

from datasets import Dataset, concatenate_datasets, load_dataset

from mrd_bench.data.source import BENCHMARKS, Benchmark, read_jsonl
from mrd_bench.errors import DataError

HUB_ID = "cais/mmlu"
SUBJECTS = (
    "abstract_algebra", "anatomy", "astronomy", "business_ethics", "clinical_knowledge",
    "college_biology", "college_chemistry", "college_computer_science", "college_mathematics",
    "college_medicine", "college_physics", "computer_security", "conceptual_physics",
    "econometrics", "electrical_engineering", "elementary_mathematics", "formal_logic",
    "global_facts", "high_school_biology", "high_school_chemistry",
    "high_school_computer_science", "high_school_european_history", "high_school_geography",
    "high_school_government_and_politics", "high_school_macroeconomics",
    "high_school_mathematics", "high_school_microeconomics", "high_school_physics",
    "high_school_psychology", "high_school_statistics", "high_school_us_history",
    "high_school_world_history", "human_aging", "human_sexuality", "international_law",
    "jurisprudence", "logical_fallacies", "machine_learning", "management", "marketing",
    "medical_genetics", "miscellaneous", "moral_disputes", "moral_scenarios", "nutrition",
    "philosophy", "prehistory", "professional_accounting", "professional_law",
    "professional_medicine", "professional_psychology", "public_relations",
    "security_studies", "sociology", "us_foreign_policy", "virology", "world_religions",
)
SPLITS = ("test", "dev") + tuple(f"{part}/{s}" for part in ("test", "dev") for s in SUBJECTS)


def _parts(split: str) -> tuple[str, tuple[str, ...]]:
    part, _, subject = split.partition("/")
    return part, (subject,) if subject else SUBJECTS


def read_local(folder: Path, split: str) -> Dataset:
    part, subjects = _parts(split)
    files = [folder / part / f"{s}.jsonl" for s in subjects]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise DataError(f"MMLU files are missing, e.g. {missing[0]!r} ({len(missing)} in all); "
                        f"check the data directory's mmlu/{part}/ folder.")
    return concatenate_datasets([read_jsonl(f) for f in files])


def read_hub(split: str) -> Dataset:
    part, subjects = _parts(split)
    config = "all" if len(subjects) > 1 else subjects[0]
    return load_dataset(HUB_ID, config, split=part)


BENCHMARKS.register("mmlu")(Benchmark(
    name="mmlu", splits=SPLITS, id_fields=("subject", "question", "choices"), subdir="mmlu",
    read_local=read_local, hub_id=HUB_ID, read_hub=read_hub))
