"""The bad-input corpus: what a careless or hurried user types, each with the words its one-line
error must contain. `{tmp}` is the case's own folder, `{model}` a tiny checkpoint, `{data}` the
shared benchmark copies; `setup` names a function below that plants files in `{tmp}` first.

test_bad_inputs.py runs every case through the CLI's main(argv) and checks: exit code 2, one
error line on stderr after any progress output, no traceback, and `{tmp}` untouched.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

F10 = ["--benchmark", "fictitious", "--split", "forget10"]
SCORE = ["score", "--model", "{model}", *F10, "--k", "1", "--no-baselines", "--no-progress"]
SCORE_OUT = [*SCORE, "--out", "{tmp}/s.jsonl"]
UNLEARN = ["unlearn", "--model", "{model}", "--benchmark", "fictitious", "--forget", "forget20", "--max-steps", "1",
           "--no-progress"]
UNLEARN_OUT = [*UNLEARN, "--out", "{tmp}/ckpt"]
FINETUNE = ["finetune", "--model", "{model}", "--benchmark", "fictitious", "--split", "full", "--max-steps", "1",
            "--no-progress"]
FINETUNE_OUT = [*FINETUNE, "--out", "{tmp}/ckpt"]
UPDATES = ["updates-to-forget", "--model", "{model}", "--benchmark", "fictitious", "--split", "forget10",
           "--no-progress"]
UPDATES_OUT = [*UPDATES, "--out", "{tmp}/u.jsonl"]
ANNOTATE = ["annotate", *F10, "--out", "{tmp}/ann.json"]
EXPORT = ["export-model", "--model", "{model}"]
DEMO = ["demo", "--model", "{model}", "--no-progress"]
SUBMIT = ["leaderboard", "submit", "--board", "{tmp}/board", "--run", "{tmp}/run", "--record", "{tmp}/run_record.json"]
ROOT = Path(__file__).resolve().parents[2]
EVAL = ["eval", "--model", "hf-mrd", "--model_args", "pretrained={model}", "--device", "cpu"]


def C(name: str, argv: list[str], *words: str, setup: str | None = None, env: dict | None = None) -> dict:
    return {"name": name, "argv": argv, "words": list(words), "setup": setup, "env": env or {}}


CASES = [
    # ---- argument parsing ---------------------------------------------------------------
    C("no command", [], "required: command"),
    C("misspelt command", ["scroe"], "invalid choice: 'scroe'"),
    C("unknown flag", [*SCORE_OUT, "--sigmaa", "1e-4"], "unrecognized arguments: --sigmaa"),
    C("flag without its value", [*SCORE, "--out"], "--out: expected one argument"),
    C("text for a number", [*SCORE_OUT, "--sigma", "abc"], "--sigma: invalid float value: 'abc'"),
    C("fraction for a count", [*SCORE_OUT[:-2], "--k", "2.5", "--out", "{tmp}/s.jsonl"], "--k/--draws: invalid int value"),
    C("missing required split", ["score", "--benchmark", "tofu", "--out", "{tmp}/s.jsonl"], "--split"),
    C("missing required out", ["annotate", *F10, "--scores", "{tmp}/s.jsonl"], "--out"),
    C("help-less eval typo", ["evl"], "invalid choice: 'evl'"),
    # ---- score: numbers ----------------------------------------------------------------------
    C("negative sigma, scientific", [*SCORE_OUT, "--sigma", "-1e-4"], "--sigma must be a positive number", "-0.0001"),
    C("negative sigma, decimal", [*SCORE_OUT, "--sigma", "-0.5"], "--sigma must be a positive number"),
    C("zero sigma", [*SCORE_OUT, "--sigma", "0"], "--sigma must be a positive number (the noise scale σ); got 0.0"),
    C("nan sigma", [*SCORE_OUT, "--sigma", "nan"], "--sigma must be a positive number"),
    C("infinite sigma", [*SCORE_OUT, "--sigma", "inf"], "--sigma must be a positive number"),
    C("zero draws", [*SCORE_OUT, "--k", "0"], "draws (K) must be at least 1; got 0"),
    C("negative draws", [*SCORE_OUT, "--k", "-3"], "draws (K) must be at least 1; got -3"),
    C("zero eps", [*SCORE_OUT, "--eps", "0"], "--eps must be a positive number"),
    C("negative eps", [*SCORE_OUT, "--eps", "-1e-3"], "--eps must be a positive number"),
    C("zero bins", [*SCORE_OUT, "--bins", "0"], "--bins must be at least 1; got 0"),
    C("negative bins", [*SCORE_OUT, "--bins", "-2"], "--bins must be at least 1"),
    C("more bins than samples", [*SCORE_OUT, "--bins", "50"], "--bins 50 needs at least 50 samples"),
    C("zero batch size", [*SCORE_OUT, "--batch-size", "0"], "batch_size and chunk_batches must be >= 1"),
    C("zero chunk batches", [*SCORE_OUT, "--chunk-batches", "0"], "batch_size and chunk_batches must be >= 1"),
    C("misspelt estimator", [*SCORE_OUT, "--estimator", "defintion"], "unknown estimator", "Did you mean 'definition'"),
    C("unknown dtype", [*SCORE_OUT, "--dtype", "float8"], "unknown dtype 'float8'"),
    C("zero limit", [*SCORE_OUT, "--limit", "0"], "--limit must be a positive number of rows"),
    C("negative limit", [*SCORE_OUT, "--limit", "-5"], "--limit must be a positive number of rows, not -5"),
    # ---- data --------------------------------------------------------------------------------
    C("misspelt benchmark", ["data", "--benchmark", "tofuu", "--split", "forget10"], "Did you mean 'tofu'"),
    C("misspelt split", ["data", "--benchmark", "tofu", "--split", "forget11"], "unknown split 'forget11'"),
    C("split of another benchmark", ["data", "--benchmark", "wmdp", "--split", "forget10"], "unknown split"),
    C("missing env data folder", ["data", "--benchmark", "tofu", "--split", "forget10"], "MRD_BENCH_DATA_DIR",
      "does not exist", env={"MRD_BENCH_DATA_DIR": "/no/such/dir"}),
    C("missing --data-dir", ["data", "--benchmark", "tofu", "--split", "forget10", "--data-dir", "{tmp}/none"],
      "from --data-dir", "does not exist"),
    C("--data-dir without the benchmark", ["data", "--benchmark", "tofu", "--split", "forget10", "--data-dir",
                                           "{tmp}"], "(from --data-dir) has no tofu/ folder", "point --data-dir"),
    C("offline without data", ["data", "--benchmark", "wmdp", "--split", "bio"], "MRD_BENCH_DATA_DIR", "cais/wmdp",
      env={"MRD_BENCH_DATA_DIR": "", "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}),
    C("no hub copy of the books", ["data", "--benchmark", "whp", "--split", "melville-moby_dick"],
      "has no hub source", env={"MRD_BENCH_DATA_DIR": ""}),
    C("user file for tofu", ["data", "--benchmark", "tofu", "--split", "forget10", "--data-path", "{tmp}/x.jsonl"],
      "does not read a user's file"),
    C("missing user file", ["data", "--benchmark", "safe", "--split", "harmful", "--data-path", "{tmp}/x.jsonl"],
      "data file", "does not exist"),
    C("harmful without a file", ["data", "--benchmark", "safe", "--split", "harmful"], "PKU-SafeRLHF", "--data-path"),
    C("duplicate rows", [*SCORE_OUT[:2], "{model}", "--benchmark", "tofu", "--split", "forget01", "--data-dir",
                         "{tmp}/data", "--out", "{tmp}/s.jsonl"], "repeated row", "--dedupe", setup="duplicate_rows"),
    C("Infinity in a data row", ["data", "--benchmark", "tofu", "--split", "forget01", "--data-dir", "{tmp}/data"],
      "line 2 holds Infinity", setup="infinity_row"),
    C("NaN in a data row", ["data", "--benchmark", "tofu", "--split", "forget01", "--data-dir", "{tmp}/data"],
      "holds NaN", setup="nan_row"),
    C("number for text", ["data", "--benchmark", "tofu", "--split", "forget01", "--data-dir", "{tmp}/data"],
      "type differs between rows", setup="number_for_text"),
    C("number for all texts", ["data", "--benchmark", "tofu", "--split", "forget01", "--data-dir", "{tmp}/data"],
      "row 1 holds 5 (int) where text is expected", setup="numbers_only"),
    C("row without answer", ["data", "--benchmark", "tofu", "--split", "forget01", "--data-dir", "{tmp}/data"],
      "row 1 lacks the field 'answer'", setup="no_answer"),
    C("broken JSON line", ["data", "--benchmark", "tofu", "--split", "forget01", "--data-dir", "{tmp}/data"],
      "line 3 is not valid JSON", setup="broken_line"),
    C("JSON array line", ["data", "--benchmark", "tofu", "--split", "forget01", "--data-dir", "{tmp}/data"],
      "line 1 is a JSON list", setup="array_line"),
    C("empty split file", ["data", "--benchmark", "tofu", "--split", "forget01", "--data-dir", "{tmp}/data"],
      "tofu/forget01 is empty", setup="empty_split"),
    C("missing split file", ["data", "--benchmark", "tofu", "--split", "forget01", "--data-dir", "{tmp}/data"],
      "forget01.jsonl", "is missing", setup="missing_split"),
    C("wmdp answer out of range", ["data", "--benchmark", "wmdp", "--split", "bio", "--data-dir", "{tmp}/data"],
      "does not pick one of its choices", setup="wmdp_bad_answer"),
    C("safe rows without prompt", ["data", "--benchmark", "safe", "--split", "harmful", "--data-path",
                                   "{tmp}/harm.jsonl"], "needs JSON lines with a 'prompt' field", setup="safe_no_prompt"),
    C("safe rows without response", ["data", "--benchmark", "safe", "--split", "harmful", "--data-path",
                                     "{tmp}/harm.jsonl"], "row 2 lacks 'response'", setup="safe_no_response"),
    C("whp missing book", ["data", "--benchmark", "whp", "--split", "melville-moby_dick", "--data-path",
                           "{tmp}/book.txt"], "data file", "does not exist"),
    # ---- model folders -----------------------------------------------------------------------
    C("missing model path", [*SCORE_OUT[:2], "/no/such/model", *SCORE_OUT[3:]], "model path '/no/such/model' does not exist"),
    C("relative missing model", [*SCORE_OUT[:2], "./nope/model", *SCORE_OUT[3:]], "does not exist"),
    C("model path is a file", [*SCORE_OUT[:2], "{tmp}/weights.bin", *SCORE_OUT[3:]], "is a file",
      setup="a_file"),
    C("weights without config", [*SCORE_OUT[:2], "{tmp}/m", *SCORE_OUT[3:]], "has no config.json",
      setup="no_config"),
    C("config without weights", [*SCORE_OUT[:2], "{tmp}/m", *SCORE_OUT[3:]], "has no weights",
      setup="no_weights"),
    C("weights without tokenizer", [*SCORE_OUT[:2], "{tmp}/m", *SCORE_OUT[3:]], "has no tokenizer",
      setup="no_tokenizer"),
    C("truncated safetensors", [*SCORE_OUT[:2], "{tmp}/m", *SCORE_OUT[3:]], "model.safetensors' is truncated or corrupt",
      setup="truncated"),
    C("garbage safetensors", [*SCORE_OUT[:2], "{tmp}/m", *SCORE_OUT[3:]], "is truncated or corrupt",
      setup="garbage_weights"),
    C("corrupt config", [*SCORE_OUT[:2], "{tmp}/m", *SCORE_OUT[3:]], "config.json' is not a JSON config",
      setup="corrupt_config"),
    C("non-causal model (T5)", [*SCORE_OUT[:2], "{tmp}/m", *SCORE_OUT[3:]], "is a 't5' model, not a causal",
      setup="t5"),
    C("unlearn from a missing model", [*UNLEARN_OUT[:2], "/no/such/model", *UNLEARN_OUT[3:]], "does not exist"),
    C("finetune from a T5", [*FINETUNE_OUT[:2], "{tmp}/m", *FINETUNE_OUT[3:]], "not a causal", setup="t5"),
    C("export a truncated model", [*EXPORT[:2], "{tmp}/m", "--out", "{tmp}/exported"], "truncated or corrupt",
      setup="truncated"),
    C("export with an unknown dtype", [*EXPORT, "--out", "{tmp}/exported", "--dtype", "fp8"], "unknown dtype 'fp8'"),
    # ---- outputs -----------------------------------------------------------------------------
    C("scores exist", SCORE_OUT, "already holds scores", "--overwrite", setup="existing_scores"),
    C("scores out is a folder", [*SCORE, "--out", "{tmp}"], "is a folder", "give a file path inside it"),
    C("scores out under a file", [*SCORE, "--out", "{tmp}/notes.txt/s.jsonl"], "which is a file",
      setup="notes"),
    C("scores out not writable", [*SCORE, "--out", "/proc/s.jsonl"], "cannot be written"),
    C("scores out empty", [*SCORE, "--out", ""], "--out needs a path"),
    C("annotation exists", [*ANNOTATE, "--scores", "{tmp}/s.jsonl"], "already holds an annotation",
      setup="existing_annotation"),
    C("annotation out is a folder", ["annotate", *F10, "--scores", "{tmp}/s.jsonl", "--out", "{tmp}"], "is a folder",
      setup="good_scores"),
    C("checkpoint out holds files", UNLEARN_OUT, "already holds files", "--overwrite", setup="occupied_ckpt"),
    C("overwrite a folder of notes", [*UNLEARN_OUT, "--overwrite"], "did not write (notes.txt, plots/)",
      setup="notes_ckpt"),
    C("finetune over a folder of notes", [*FINETUNE_OUT, "--overwrite"], "did not write", setup="notes_ckpt"),
    C("export over a folder of notes", [*EXPORT, "--out", "{tmp}/ckpt", "--overwrite"], "did not write",
      setup="notes_ckpt"),
    C("checkpoint out is a file", [*UNLEARN, "--out", "{tmp}/notes.txt"], "is a file; give a folder path",
      setup="notes"),
    C("checkpoint out under a file", [*FINETUNE, "--out", "{tmp}/notes.txt/ckpt"], "which is a file", setup="notes"),
    C("export out under a file", [*EXPORT, "--out", "{tmp}/notes.txt/ckpt"], "which is a file", setup="notes"),
    C("export out not writable", [*EXPORT, "--out", "/proc/ckpt"], "cannot be written"),
    C("updates out is a folder", [*UPDATES, "--out", "{tmp}"], "is a folder"),
    C("updates exist", UPDATES_OUT, "already holds", "--overwrite", setup="existing_updates"),
    C("demo out is a file", [*DEMO, "--out", "{tmp}/notes.txt"], "is a file", setup="notes"),
    C("demo out holds results", [*DEMO, "--out", "{tmp}/demo"], "already holds demo results", setup="existing_demo"),
    C("partial run with other settings", [*SCORE_OUT[:-2], "--sigma", "1e-2", "--out", "{tmp}/s.jsonl"],
      "holds a partial run with other settings", setup="foreign_partial"),
    # ---- scores and annotations --------------------------------------------------------------
    C("scores file missing", [*ANNOTATE, "--scores", "{tmp}/none.jsonl"], "scores file", "does not exist"),
    C("scores truncated", [*ANNOTATE, "--scores", "{tmp}/s.jsonl"], "s.jsonl:3 is not JSON", setup="truncated_scores"),
    C("scores not JSON", [*ANNOTATE, "--scores", "{tmp}/s.jsonl"], "s.jsonl:1 is not JSON", setup="text_scores"),
    C("scores without sample_id", [*ANNOTATE, "--scores", "{tmp}/s.jsonl"], "has no sample_id", setup="no_id_scores"),
    C("scores without score", [*ANNOTATE, "--scores", "{tmp}/s.jsonl"], "has score None", setup="no_score_scores"),
    C("NaN score", [*ANNOTATE, "--scores", "{tmp}/s.jsonl"], "has score nan", "finite", setup="nan_scores"),
    C("infinite score", [*ANNOTATE, "--scores", "{tmp}/s.jsonl"], "has score inf", setup="inf_scores"),
    C("negative score", [*ANNOTATE, "--scores", "{tmp}/s.jsonl"], "has score -0.5", setup="negative_scores"),
    C("text score", [*ANNOTATE, "--scores", "{tmp}/s.jsonl"], "has score 'high'", setup="text_score"),
    C("empty scores", [*ANNOTATE, "--scores", "{tmp}/s.jsonl"], "is empty", setup="empty_scores"),
    C("scores without meta", [*ANNOTATE, "--scores", "{tmp}/s.jsonl"], "s.meta.json", "is missing", setup="no_meta"),
    C("meta without bin_edges", [*ANNOTATE, "--scores", "{tmp}/s.jsonl"], "has no valid bin_edges",
      setup="meta_no_edges"),
    C("meta with unsorted edges", [*ANNOTATE, "--scores", "{tmp}/s.jsonl"], "ascending", setup="meta_bad_edges"),
    C("scores of another split", [*ANNOTATE, "--scores", "{tmp}/s.jsonl"], "have no MRD (definition)", setup="other_split"),
    C("unlearn scores missing", [*UNLEARN_OUT, "--sampler", "mrd", "--scores", "{tmp}/none.jsonl"], "does not exist"),
    C("unlearn scores with NaN", [*UNLEARN_OUT, "--sampler", "mrd", "--scores", "{tmp}/s.jsonl"], "has score nan",
      setup="nan_scores"),
    C("unlearn scores of another split", [*UNLEARN_OUT, "--sampler", "mrd", "--scores", "{tmp}/s.jsonl"],
      "have no score", setup="other_split"),
    # ---- unlearn / finetune settings --------------------------------------------------------
    C("misspelt method", [*UNLEARN_OUT, "--method", "gaa"], "unknown method 'gaa'", "Did you mean 'ga'"),
    C("misspelt sampler", [*UNLEARN_OUT, "--sampler", "mdr"], "unknown sampler 'mdr'", "Did you mean 'mrd'"),
    C("cga with uniform", [*UNLEARN_OUT, "--method", "cga", "--sampler", "uniform"], "cga is ga with the mrd sampler"),
    C("zero lr", [*UNLEARN_OUT, "--lr", "0"], "lr must be a positive number"),
    C("negative lr", [*UNLEARN_OUT, "--lr", "-1e-5"], "lr must be a positive number"),
    C("nan lr", [*FINETUNE_OUT, "--lr", "nan"], "lr must be a positive number"),
    C("zero epochs", [*UNLEARN_OUT, "--epochs", "0"], "epochs must be at least 1"),
    C("zero batch", [*UNLEARN_OUT, "--batch-size", "0"], "batch_size must be at least 1"),
    C("zero max steps", [*FINETUNE_OUT, "--max-steps", "0"], "max_steps must be at least 1"),
    C("negative warmup", [*FINETUNE_OUT, "--warmup-steps", "-1"], "--warmup-steps", "must be >= 0"),
    C("negative save-every", [*UNLEARN_OUT, "--save-every", "-5"], "--save-every must be >= 0"),
    C("floor above one", [*UNLEARN_OUT, "--floor", "2"], "--floor", "must lie in [0, 1]; got 2.0"),
    C("negative floor", [*UNLEARN_OUT, "--floor", "-0.1"], "must lie in [0, 1]"),
    C("infinite tau", [*UNLEARN_OUT, "--tau", "inf"], "--tau must be a finite number"),
    C("zero mrd sigma", [*UNLEARN_OUT, "--mrd-sigma", "0"], "--mrd-sigma must be a positive number"),
    C("zero mrd draws", [*UNLEARN_OUT, "--mrd-draws", "0"], "mrd_draws must be at least 1"),
    C("zero el n", [*UNLEARN_OUT, "--el-n", "0"], "el_n must be at least 1"),
    C("zero max length", [*UNLEARN_OUT, "--max-length", "0"], "max_length must be at least 1"),
    C("negative lora rank", [*UNLEARN_OUT, "--lora-rank", "-1"], "lora_rank must be >= 0"),
    C("misspelt prompt format", [*UNLEARN_OUT, "--prompt-format", "chatt"], "unknown prompt format 'chatt'"),
    C("npo with zero beta", [*UNLEARN_OUT, "--method", "npo", "--beta", "0"], "NPO's beta must be positive"),
    C("ga with a retain set", [*UNLEARN_OUT, "--retain", "retain80"], "ga uses no retain set"),
    C("graddiff without a retain set", [*UNLEARN_OUT, "--method", "graddiff"], "graddiff needs a retain set"),
    C("forget and retain overlap", [*UNLEARN_OUT, "--method", "graddiff", "--retain", "full"],
      "also in the forget set"),
    C("subset authors off TOFU", [*UNLEARN_OUT, "--subset-authors", "2"], "--subset-authors applies to TOFU only"),
    C("zero subset authors", [*FINETUNE_OUT[:4], "tofu", *FINETUNE_OUT[5:], "--subset-authors", "0"],
      "--subset-authors must be at least 1"),
    C("misspelt forget split", [*UNLEARN_OUT[:6], "forget21", *UNLEARN_OUT[7:]], "unknown split 'forget21'"),
    C("misspelt finetune split", [*FINETUNE_OUT[:6], "ful", *FINETUNE_OUT[7:]], "unknown split 'ful'",
      "Did you mean 'full'"),
    C("early stop off TOFU", [*UNLEARN_OUT[:4], "whp", "--forget", "melville-moby_dick",
                              *UNLEARN_OUT[7:], "--early-stop"], "needs --threshold-split"),
    C("replay a missing record", ["unlearn", "--replay", "{tmp}/none.json", "--out", "{tmp}/again"],
      "no run record at"),
    C("replay a broken record", ["unlearn", "--replay", "{tmp}/run_record.json", "--out", "{tmp}/again"],
      "is not a run record", setup="broken_record"),
    C("replay into an occupied folder", ["unlearn", "--replay", "{tmp}/run_record.json", "--out", "{tmp}/ckpt"],
      "already holds files", setup="record_and_occupied"),
    C("updates with zero cap", [*UPDATES_OUT, "--max-updates", "0"], "--max-updates must be at least 1"),
    C("updates with lora", [*UPDATES_OUT, "--lora-rank", "2"], "unrecognized arguments: --lora-rank"),
    # ---- demo ----------------------------------------------------------------------------------
    C("demo zero epochs", [*DEMO, "--out", "{tmp}/demo", "--epochs", "0"], "epochs and batch_size must be >= 1"),
    C("demo negative lr", [*DEMO, "--out", "{tmp}/demo", "--lr", "-1e-4"], "--lr must be a positive number"),
    C("demo negative sigma", [*DEMO, "--out", "{tmp}/demo", "--sigma", "-1e-4"], "--sigma must be a positive number"),
    C("demo zero draws", [*DEMO, "--out", "{tmp}/demo", "--draws", "0"], "draws (K) must be at least 1"),
    C("demo zero train samples", [*DEMO, "--out", "{tmp}/demo", "--train-samples", "0"],
      "--train-samples must be at least 1"),
    C("demo misspelt split", [*DEMO, "--out", "{tmp}/demo", "--forget-split", "forget21"], "unknown split 'forget21'"),
    C("demo bad board entry", [*DEMO, "--out", "{tmp}/demo", "--board-runs", "ga:nope"], "is not METHOD:SAMPLER"),
    C("demo board entry needing retain", [*DEMO, "--out", "{tmp}/demo", "--board-runs", "graddiff:uniform"],
      "without a retain set"),
    C("demo zero board steps", [*DEMO, "--out", "{tmp}/demo", "--board-steps", "0"], "--board-steps must be at least 1"),
    # ---- leaderboard and audit -----------------------------------------------------------------
    C("leaderboard without action", ["leaderboard"], "required: {submit,validate,build,verify,reference}"),
    C("build a missing board", ["leaderboard", "build", "{tmp}/none"], "no leaderboard definition"),
    C("build a board that is not JSON", ["leaderboard", "build", "{tmp}"], "not JSON", setup="yaml_board"),
    C("validate a missing submission", ["leaderboard", "validate", "{tmp}/none", "--board", "{tmp}/none"],
      "no leaderboard definition"),
    C("submit without a board", ["leaderboard", "submit", "--board", "{tmp}/none", "--run", "{tmp}", "--name", "x"],
      "no leaderboard definition"),
    C("audit a missing claim", ["audit", "{tmp}/none.json"], "no such file"),
    C("audit a YAML claim", ["audit", "{tmp}/notes.txt"], "not JSON", setup="notes"),
    # ---- report --------------------------------------------------------------------------------
    C("report of a missing folder", ["report", "{tmp}/none"], "is not a folder"),
    C("report without results", ["report", "{tmp}"], "no lm-eval results_*.json"),
    C("report of corrupt results", ["report", "{tmp}/run"], "is not JSON", setup="corrupt_results"),
    C("report of keyless results", ["report", "{tmp}/run"], "is not an lm-eval results file", setup="keyless_results"),
    C("report of a results list", ["report", "{tmp}/run"], "is not an lm-eval results file", setup="list_results"),
    C("report of torn samples", ["report", "{tmp}/run"], "is not JSON (a truncated samples file?)",
      setup="torn_samples"),
    C("report with a missing reference", ["report", "{tmp}/run", "--retain-reference", "{tmp}/ref.jsonl"],
      "retain reference", "does not exist", setup="good_results"),
    C("report with a corrupt reference", ["report", "{tmp}/run", "--retain-reference", "{tmp}/ref.json"],
      "is not a retain reference", setup="corrupt_reference"),
    C("report exists", ["report", "{tmp}/run"], "already holds a report", setup="existing_report"),
    C("report out is a file", ["report", "{tmp}/run", "--out", "{tmp}/notes.txt"], "is a file",
      setup="good_results_and_notes"),
    # ---- eval ----------------------------------------------------------------------------------
    C("eval metadata not JSON", [*EVAL, "--tasks", "tofu_forget_mrd", "--metadata", "{{split: forget01}}"],
      "--metadata is not JSON"),
    C("eval metadata not an object", [*EVAL, "--tasks", "tofu_forget_mrd", "--metadata", "[1, 2]"],
      "--metadata must be a JSON object"),
    C("eval metadata with equals", [*EVAL, "--tasks", "tofu_forget_mrd", "--metadata=split=forget01"],
      "--metadata is not JSON"),
    C("eval misspelt task", [*EVAL, "--tasks", "tofu_forget_mdr"], "did you mean 'tofu_forget_mrd'"),
    C("eval misspelt group in a list", [*EVAL, "--tasks", "tofu_forget_mrd,wmdp_mrdd"], "did you mean 'wmdp_mrd'"),
    C("eval unknown task", [*EVAL, "--tasks", "nosuchtask_xyz"], "Tasks not found: nosuchtask_xyz", "lm_eval ls tasks"),
    C("eval missing pretrained", ["eval", "--model", "hf-mrd", "--model_args", "pretrained=./no/such", "--tasks",
                                  "tofu_forget_mrd"], "model path './no/such' does not exist"),
    C("eval pretrained T5", ["eval", "--model", "hf-mrd", "--model_args", "pretrained={tmp}/m,dtype=float32",
                             "--tasks", "tofu_forget_mrd"], "not a causal", setup="t5"),
    C("eval pretrained without tokenizer", ["eval", "--model", "hf", "--model_args", "pretrained={tmp}/m",
                                            "--tasks", "tofu_forget_mrd"], "has no tokenizer", setup="no_tokenizer"),
    # ---- the overwrite policy (issue #26): what once lost data is refused, its folder untouched --
    C("submit named .. over its board", [*SUBMIT, "--name", "..", "--overwrite"], "--name '..' gives no folder name",
      setup="board_and_run"),
    C("submit into its board", [*SUBMIT, "--name", "x", "--out", "{tmp}/board/submissions/..", "--overwrite"],
      "is --board", "which this command reads", setup="board_and_run"),
    C("submit over a folder of notes", [*SUBMIT, "--name", "x", "--out", "{tmp}/mine", "--overwrite"],
      "did not write (notes.txt, plots/)", setup="board_run_and_notes"),
    C("annotate over its own scores", ["annotate", *F10, "--scores", "{tmp}/s.jsonl", "--out", "{tmp}/s.jsonl",
                                       "--overwrite"], "is --scores", "which this command reads", setup="good_scores"),
    C("annotate over the scores' bin edges", ["annotate", *F10, "--scores", "{tmp}/s.jsonl", "--out",
                                              "{tmp}/s.meta.json", "--overwrite"], "is the bin edges of --scores",
      setup="good_scores"),
    C("score over its own data", [*SCORE, "--data-path", "{tmp}/x.jsonl", "--out", "{tmp}/x.jsonl", "--overwrite"],
      "is --data-path", "which this command reads", setup="user_data"),
    C("score into a FIFO", [*SCORE, "--out", "{tmp}/s.jsonl", "--overwrite"], "is a FIFO, not a regular file",
      setup="fifo"),
    C("score into a character device", [*SCORE, "--out", "/dev/null", "--overwrite"],
      "is a character device, not a regular file"),
    C("unlearn over its own model", [*UNLEARN[:2], "{tmp}/m", *UNLEARN[3:], "--out", "{tmp}/m", "--overwrite"],
      "is --model", setup="copied_model"),
    C("export over its own model", [*EXPORT[:2], "{tmp}/m", "--out", "{tmp}/m", "--overwrite"], "is --model",
      setup="copied_model"),
    C("report over its lm-eval folder", ["report", "{tmp}/run", "--out", "{tmp}/run", "--overwrite"],
      "is OUTPUT_DIR", setup="good_results"),
    C("report over a checkpoint", ["report", "{tmp}/run", "--out", "{tmp}/m", "--overwrite"],
      "holds another command's output (checkpoint)", setup="results_and_saved_model"),
    C("reproduce a pending report over a measured one", [
        "reproduce", "--work", "{tmp}/work", "--out", "{tmp}/report", "--stages", "report", "--overwrite",
        "--no-progress"], "holds measured verdicts for predicts", "never turns a measured verdict pending",
      setup="measured_report"),
    C("reproduce over a report without --overwrite", [
        "reproduce", "--work", "{tmp}/work", "--out", "{tmp}/report", "--stages", "report", "--no-progress"],
      "already holds a reproduction report", "--overwrite", setup="measured_report"),
    # ---- issue 26: checks before the work, stop on divergence, one line for what the user can cause ----
    C("eval output under /proc", [*EVAL, "--tasks", "tofu_forget_mrd", "--output_path", "/proc/x"],
      "--output_path '/proc/x' cannot be written"),
    C("eval output is a file", [*EVAL, "--tasks", "tofu_forget_mrd", "--output_path", "{tmp}/notes.txt"],
      "is a file; lm-eval writes a folder there", setup="notes"),
    C("eval output under a file", [*EVAL, "--tasks", "tofu_forget_mrd", "--output_path", "{tmp}/notes.txt/run"],
      "which is a file", setup="notes"),
    C("eval json output under a file", [*EVAL, "--tasks", "tofu_forget_mrd", "--output_path",
                                        "{tmp}/notes.txt/r.json"], "which is a file", setup="notes"),
    C("eval zero limit", [*EVAL, "--tasks", "tofu_forget_mrd", "--limit", "0"],
      "--limit must be a positive number of documents per task", "got 0"),
    C("eval negative limit", [*EVAL, "--tasks", "tofu_forget_mrd", "--limit", "-1"], "--limit must be", "got -1"),
    C("eval text limit", [*EVAL, "--tasks", "tofu_forget_mrd", "--limit", "abc"], "invalid float value: 'abc'"),
    C("eval text batch size", [*EVAL, "--tasks", "tofu_forget_mrd", "--batch_size", "abc"],
      "--batch_size must be a whole number >= 1, 'auto' or 'auto:N'; got 'abc'"),
    C("eval zero batch size", [*EVAL, "--tasks", "tofu_forget_mrd", "--batch_size", "0"], "--batch_size", "got '0'"),
    C("eval negative batch size", [*EVAL, "--tasks", "tofu_forget_mrd", "--batch_size", "-2"], "got '-2'"),
    C("eval zero batch size in model args", ["eval", "--model", "hf-mrd", "--model_args", "pretrained={model},batch_size=0",
                                             "--tasks", "tofu_forget_mrd"], "--model_args batch_size must be"),
    C("eval unknown dtype", ["eval", "--model", "hf-mrd", "--model_args", "pretrained={model},dtype=float33",
                             "--tasks", "tofu_forget_mrd"], "dtype='float33' is not a torch dtype"),
    C("eval text max length", ["eval", "--model", "hf-mrd", "--model_args", "pretrained={model},max_length=abc",
                               "--tasks", "tofu_forget_mrd"], "--model_args max_length must be a whole number"),
    C("eval zero generation batch", ["eval", "--model", "hf-mrd", "--model_args", "pretrained={model},gen_batch_size=0",
                                     "--tasks", "tofu_forget_mrd"], "--model_args gen_batch_size must be a whole number"),
    C("eval maybe a switch", ["eval", "--model", "hf-mrd", "--model_args", "pretrained={model},reuse_prefix=maybe",
                              "--tasks", "tofu_forget_mrd"], "reuse_prefix='maybe' is not a switch"),
    C("eval without model args", ["eval", "--model", "hf-mrd", "--tasks", "tofu_forget_mrd"],
      "--model hf-mrd needs --model_args pretrained=PATH", "got no --model_args"),
    C("eval misspelt pretrained", ["eval", "--model", "hf-mrd", "--model_args", "pretrainde={model}", "--tasks",
                                   "tofu_forget_mrd"], "unknown --model_args key 'pretrainde'",
      "did you mean 'pretrained'"),
    C("eval without tasks", ["eval", "--model", "hf-mrd", "--model_args", "pretrained={model}"], "--tasks is required"),
    C("eval samples without output", [*EVAL, "--tasks", "tofu_forget_mrd", "--log_samples"],
      "--log_samples needs --output_path"),
    C("eval metadata split a number", [*EVAL, "--tasks", "tofu_forget_mrd", "--metadata", '{{"split": 10}}'],
      "--metadata split: 10 is not of type 'string'"),
    C("eval metadata misspelt key", [*EVAL, "--tasks", "tofu_forget_mrd", "--metadata", '{{"splt": "forget01"}}'],
      "unknown --metadata key 'splt'", "did you mean 'split'"),
    C("eval metadata renormalize as text", [*EVAL, "--tasks", "tofu_forget_mrd", "--metadata",
                                            '{{"renormalize": "no"}}'], "renormalize: 'no' is not of type 'boolean'"),
    C("eval metadata key no task reads", [*EVAL, "--tasks", "tofu_forget_mrd", "--metadata", '{{"colour": 1}}'],
      "unknown --metadata key 'colour'", "none of the tasks reads it"),
    C("eval metadata prompt format", [*EVAL, "--tasks", "tofu_forget_mrd", "--metadata",
                                      '{{"prompt_format": "chat"}}'], "prompt_format: 'chat' is not one of"),
    C("eval metadata zero n", [*EVAL, "--tasks", "whp_forget_mrd", "--metadata", '{{"n": 0}}'],
      "--metadata n: 0 is less than the minimum of 1"),
    C("unlearn diverges", [*UNLEARN_OUT, "--lr", "1e20", "--max-steps", "3"], "training diverged at step 2",
      "the loss is nan", "no checkpoint was written", "Lower --lr"),
    C("finetune diverges", [*FINETUNE_OUT, "--lr", "1e20", "--max-steps", "4"], "training diverged at step",
      "no checkpoint was written"),
    C("unlearn lr overflowing adam", [*UNLEARN_OUT, "--lr", "1e38"], "--lr 1e+38 is too large", "overflows a float32"),
    C("finetune lr overflowing adam", [*FINETUNE_OUT, "--lr", "1e38"], "is too large"),
    C("demo lr overflowing adam", [*DEMO, "--out", "{tmp}/demo", "--lr", "1e38"], "--lr 1e+38 is too large"),
    C("score non-finite weights", [*SCORE_OUT[:2], "{tmp}/m", *SCORE_OUT[3:]], "weights are not finite",
      "1 of 21 tensors hold NaN or Inf", "'lm_head.weight'", setup="i26_nan_weights"),
    C("score non-finite scores", [*SCORE_OUT[:2], "{tmp}/m", *SCORE_OUT[3:]], "10 of 10 MRD scores are not finite",
      "never a difficulty", setup="i26_overflowing_model"),
    C("score seed beyond 64 bits", [*SCORE_OUT, "--seed", str(2 ** 64)],
      "--seed must be a whole number from 0 to 2**64-1", str(2 ** 64)),
    C("score negative seed", [*SCORE_OUT, "--seed", "-1"], "--seed must be a whole number", "got -1"),
    C("unlearn seed beyond 64 bits", [*UNLEARN_OUT, "--seed", str(2 ** 70)], "--seed must be a whole number"),
    C("compare zero resamples", ["compare-difficulty", "{tmp}/a.jsonl", "{tmp}/b.jsonl", "--out", "{tmp}/cmp",
                                 "--resamples", "0"], "--resamples must be at least 1", "got 0"),
    C("compare negative resamples", ["compare-difficulty", "{tmp}/a.jsonl", "{tmp}/b.jsonl", "--out", "{tmp}/cmp",
                                     "--resamples", "-5"], "--resamples must be at least 1", "got -5"),
    C("more subset authors than TOFU has", ["data", "--benchmark", "tofu", "--split", "forget01", "--subset-authors",
                                            "1000"], "--subset-authors 1000 is more than TOFU's 200 authors"),
    C("finetune on more authors than TOFU has", [*FINETUNE_OUT[:4], "tofu", *FINETUNE_OUT[5:], "--subset-authors",
                                                 "201"], "more than TOFU's 200 authors"),
    C("annotate a repeated sample id", [*ANNOTATE, "--scores", "{tmp}/s.jsonl"], "s.jsonl:11 repeats sample_id",
      "first on line 2", setup="i26_repeated_id"),
    C("reproduce work is a file", ["reproduce", "--work", "{tmp}/notes.txt", "--out", "{tmp}/rep", "--no-progress"],
      "--work", "notes.txt' is a file", setup="notes"),
    C("cache under /proc", [*ANNOTATE, "--scores", "{tmp}/s.jsonl"], "cache folder '/proc/x'", "$MRD_BENCH_CACHE",
      "point MRD_BENCH_CACHE at a folder", env={"MRD_BENCH_CACHE": "/proc/x"}),
    C("cache is a file", SCORE_OUT, "cache folder '/etc/passwd'", "(from $MRD_BENCH_CACHE)", "Not a directory",
      env={"MRD_BENCH_CACHE": "/etc/passwd"}),
    C("home under /proc", UNLEARN_OUT, "'/proc/x/.cache/mrd_bench' (from $HOME/.cache/mrd_bench)",
      env={"MRD_BENCH_CACHE": "", "HOME": "/proc/x"}),
]


# ---- setups: each plants files in the case's folder ------------------------------------------

def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _tofu_rows(data: Path, n: int = 3) -> list[dict]:
    rows = [json.loads(line) for line in (data / "tofu" / "forget01.jsonl").read_text().splitlines()[:n]]
    return rows


def _tofu_split(tmp: Path, lines: list[str]) -> None:
    _write(tmp / "data" / "tofu" / "forget01.jsonl", "".join(line + "\n" for line in lines))


def _scores(tmp: Path, rows: list, edges=(0.3, 0.6), meta: bool = True, raw: str | None = None) -> None:
    text = raw if raw is not None else "".join(json.dumps(r) + "\n" for r in rows)
    _write(tmp / "s.jsonl", text)
    if meta:
        _write(tmp / "s.meta.json", json.dumps({"bin_edges": list(edges)}))


def _fictitious_ids(n: int = 10, split: str = "forget10") -> list[str]:
    from mrd_bench.data import load

    return load("fictitious", split)["sample_id"][:n]


def _copy_model(ctx, drop=()) -> Path:
    target = ctx["tmp"] / "m"
    shutil.copytree(ctx["model"], target)
    for name in drop:
        for path in target.glob(name):
            path.unlink()
    return target


def _results(tmp: Path, text: str) -> Path:
    run = tmp / "run" / "model"
    _write(run / "results_2026-01-01T00-00-00.json", text)
    return run


GOOD_RESULTS = json.dumps({"results": {"t": {"acc,none": 0.5}}})


def setup(name: str, ctx: dict) -> None:
    tmp, data = ctx["tmp"], ctx["data"]
    if name in ISSUE_26_SETUPS:
        return ISSUE_26_SETUPS[name](ctx)
    if name == "duplicate_rows":
        lines = [json.dumps(r) for r in _tofu_rows(data, 3)]
        _tofu_split(tmp, lines + lines[:1])
    elif name == "infinity_row":
        _tofu_split(tmp, [json.dumps(_tofu_rows(data, 1)[0]), '{"question": Infinity, "answer": "x"}'])
    elif name == "nan_row":
        _tofu_split(tmp, [json.dumps(_tofu_rows(data, 1)[0]), '{"question": "q", "answer": NaN}'])
    elif name == "number_for_text":
        _tofu_split(tmp, [json.dumps(_tofu_rows(data, 1)[0]), '{"question": 5, "answer": "x"}'])
    elif name == "numbers_only":
        _tofu_split(tmp, ['{"question": 5, "answer": "x"}', '{"question": 6, "answer": "y"}'])
    elif name == "no_answer":
        _tofu_split(tmp, ['{"question": "Who?"}', '{"question": "Where?"}'])
    elif name == "broken_line":
        _tofu_split(tmp, [json.dumps(r) for r in _tofu_rows(data, 2)] + ['{"question": "Who?", "answer": '])
    elif name == "array_line":
        _tofu_split(tmp, ['["Who?", "Me."]'])
    elif name == "empty_split":
        _tofu_split(tmp, [])
    elif name == "missing_split":
        (tmp / "data" / "tofu").mkdir(parents=True)
    elif name == "wmdp_bad_answer":
        _write(tmp / "data" / "wmdp" / "wmdp-bio.jsonl",
               json.dumps({"question": "Which?", "choices": ["a", "b", "c", "d"], "answer": 7}) + "\n")
    elif name == "safe_no_prompt":
        _write(tmp / "harm.jsonl", '{"text": "hello"}\n')
    elif name == "safe_no_response":
        _write(tmp / "harm.jsonl", '{"prompt": "p1", "response": "r1"}\n{"prompt": "p2"}\n')
    elif name == "a_file":
        _write(tmp / "weights.bin", "not a model")
    elif name == "no_config":
        _copy_model(ctx, drop=("config.json",))
    elif name == "no_weights":
        _copy_model(ctx, drop=("*.safetensors",))
    elif name == "no_tokenizer":
        _copy_model(ctx, drop=("tokenizer*", "special_tokens_map.json"))
    elif name == "truncated":
        weights = _copy_model(ctx) / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif name == "garbage_weights":
        (_copy_model(ctx) / "model.safetensors").write_bytes(b"\x00garbage" * 100)
    elif name == "corrupt_config":
        (_copy_model(ctx) / "config.json").write_text("{not json")
    elif name == "t5":
        target = _copy_model(ctx)
        config = json.loads((target / "config.json").read_text())
        (target / "config.json").write_text(json.dumps({**config, "model_type": "t5", "architectures":
                                                        ["T5ForConditionalGeneration"]}))
    elif name == "existing_scores":
        _write(tmp / "s.jsonl", '{"sample_id": "x", "score": 1.0}\n')
    elif name == "notes":
        _write(tmp / "notes.txt", "my notes")
    elif name == "existing_annotation":
        _scores(tmp, [{"sample_id": s, "score": 0.1 * i} for i, s in enumerate(_fictitious_ids())])
        _write(tmp / "ann.json", "{}")
    elif name == "good_scores":
        _scores(tmp, [{"sample_id": s, "score": 0.1 * i} for i, s in enumerate(_fictitious_ids())])
    elif name == "occupied_ckpt":
        _write(tmp / "ckpt" / "model.safetensors", "old")
    elif name == "notes_ckpt":
        _beside_user_files(tmp / "ckpt", "model.safetensors", "old")
    elif name == "existing_updates":
        _write(tmp / "u.jsonl", "{}\n")
    elif name == "existing_demo":
        _write(tmp / "demo" / "report.md", "# old")
    elif name == "foreign_partial":
        _write(tmp / "s.jsonl.partial" / "key.json", json.dumps({"key": "another run"}))
    elif name == "truncated_scores":
        ids = _fictitious_ids()
        _scores(tmp, [], raw="".join(json.dumps({"sample_id": s, "score": 0.1}) + "\n" for s in ids[:2])
                + '{"sample_id": "' + ids[2])
    elif name == "text_scores":
        _scores(tmp, [], raw="sample score\n")
    elif name == "no_id_scores":
        _scores(tmp, [{"score": 0.1}])
    elif name == "no_score_scores":
        _scores(tmp, [{"sample_id": s} for s in _fictitious_ids()])
    elif name == "nan_scores":
        _scores(tmp, [], raw="".join(f'{{"sample_id": "{s}", "score": NaN}}\n' for s in _fictitious_ids(20, "forget20")))
    elif name == "inf_scores":
        _scores(tmp, [], raw=f'{{"sample_id": "{_fictitious_ids()[0]}", "score": Infinity}}\n')
    elif name == "negative_scores":
        _scores(tmp, [{"sample_id": s, "score": -0.5} for s in _fictitious_ids()])
    elif name == "text_score":
        _scores(tmp, [{"sample_id": s, "score": "high"} for s in _fictitious_ids()])
    elif name == "empty_scores":
        _scores(tmp, [], raw="")
    elif name == "no_meta":
        _scores(tmp, [{"sample_id": s, "score": 0.1} for s in _fictitious_ids()], meta=False)
    elif name == "meta_no_edges":
        _scores(tmp, [{"sample_id": s, "score": 0.1} for s in _fictitious_ids()], meta=False)
        _write(tmp / "s.meta.json", json.dumps({"created": "today"}))
    elif name == "meta_bad_edges":
        _scores(tmp, [{"sample_id": s, "score": 0.1} for s in _fictitious_ids()], edges=(0.6, 0.3))
    elif name == "other_split":
        _scores(tmp, [{"sample_id": s, "score": 0.1} for s in _fictitious_ids(10, "holdout10")])
    elif name == "broken_record":
        _write(tmp / "run_record.json", '{"kind": "unlearn"')
    elif name == "record_and_occupied":
        _write(tmp / "run_record.json", json.dumps({"kind": "unlearn", "inputs": {}, "settings": {}, "loop": {}}))
        _write(tmp / "ckpt" / "model.safetensors", "old")
    elif name == "corrupt_results":
        _results(tmp, '{"results": {"t": ')
    elif name == "keyless_results":
        _results(tmp, json.dumps({"model_name": "x"}))
    elif name == "list_results":
        _results(tmp, "[1, 2, 3]")
    elif name == "torn_samples":
        run = _results(tmp, GOOD_RESULTS)
        _write(run / "samples_t_2026-01-01T00-00-00.jsonl", '{"doc": {}}\n{"doc": ')
    elif name == "yaml_board":
        _write(tmp / "board.json", "schema_version: 1\nname: x\n")
    elif name == "good_results":
        _results(tmp, GOOD_RESULTS)
    elif name == "corrupt_reference":
        _results(tmp, GOOD_RESULTS)
        _write(tmp / "ref.json", '{"ratios": [1, 2]}')
    elif name == "existing_report":
        _results(tmp, GOOD_RESULTS)
        _write(tmp / "run" / "mrd_report" / "report.md", "# old")
    elif name == "good_results_and_notes":
        _results(tmp, GOOD_RESULTS)
        _write(tmp / "notes.txt", "my notes")
    elif name in ("board_and_run", "board_run_and_notes"):
        board_and_run(tmp)
        if name == "board_run_and_notes":  # a submission folder where its user keeps notes and plots
            _beside_user_files(tmp / "mine", "submission.json", "{}")
    elif name == "user_data":
        _write(tmp / "x.jsonl", '{"question": "Who?", "answer": "Me."}\n')
    elif name == "fifo":
        import os

        os.mkfifo(tmp / "s.jsonl")
    elif name == "copied_model":
        _copy_model(ctx)
    elif name == "results_and_saved_model":
        _results(tmp, GOOD_RESULTS)
        _write(tmp / "m" / "config.json", "{}")
        _write(tmp / "m" / ".mrd_bench_files.json", json.dumps({"written_by": "checkpoint", "files": ["config.json"]}))
    elif name == "measured_report":
        measured_report(tmp / "report")
    else:
        raise KeyError(name)


def _beside_user_files(folder: Path, name: str, text: str) -> None:
    """`folder` holding an output file of mrd-bench's and a user's notes.txt and plots/."""
    _write(folder / name, text)
    _write(folder / "notes.txt", "my notes")
    (folder / "plots").mkdir()


def board_and_run(tmp: Path) -> None:
    """{tmp}/board: the committed fictitious board (its definition and annotation); {tmp}/run: one
    of its submissions laid out as the lm-eval output folder it came from; {tmp}/run_record.json."""
    source = ROOT / "leaderboards" / "fictitious_forget20"
    for name in ("board.json", "annotation.json"):
        _write(tmp / "board" / name, (source / name).read_text())
    entry = source / "submissions" / "ga_mrd"
    stamp = "2026-01-01T00-00-00"
    _write(tmp / "run" / f"results_{stamp}.json", (entry / "results.json").read_text())
    _write(tmp / "run_record.json", (entry / "run_record.json").read_text())
    for path in entry.glob("samples_*.jsonl"):
        first, *rest = path.read_text().splitlines()
        row = json.loads(first)
        row["doc"]["annotation"] = str(tmp / "board" / "annotation.json")
        _write(tmp / "run" / f"{path.stem}_{stamp}.jsonl", "\n".join([json.dumps(row), *rest]) + "\n")


def measured_report(folder: Path) -> None:
    """A reproduction report with a measured verdict, as `mrd-bench reproduce` writes it."""
    _write(folder / "results.json", json.dumps({"claims": {"predicts": {"verdict": "reproduced"}}}))
    _write(folder / "README.md", "# measured\n")
    _write(folder / "run_record.json", json.dumps({"study": {}}))
    _write(folder / ".mrd_bench_files.json", json.dumps({"written_by": "reproduce", "files": [
        "README.md", "results.json", "run_record.json"]}))


# ---- issue 26: checks before the work (setups) ------------------------------------------------

def _model_with(ctx, change) -> None:
    """{tmp}/m: the tiny model with `change(weights)` applied to its safetensors."""
    from safetensors.torch import load_file, save_file

    path = _copy_model(ctx) / "model.safetensors"
    weights = load_file(path)
    change(weights)
    save_file(weights, path, metadata={"format": "pt"})


def _nan_weights(ctx) -> None:  # what a diverged run leaves
    _model_with(ctx, lambda w: w["lm_head.weight"].view(-1)[0].fill_(float("nan")))


def _overflowing_model(ctx) -> None:  # finite weights whose logits overflow: every log p is NaN
    _model_with(ctx, lambda w: w["lm_head.weight"].fill_(3e38))


def _repeated_id(ctx) -> None:
    ids = _fictitious_ids()
    _scores(ctx["tmp"], [{"sample_id": s, "score": 0.1 * i} for i, s in enumerate(ids)] + [
        {"sample_id": ids[1], "score": 0.9}])


ISSUE_26_SETUPS = {"i26_nan_weights": _nan_weights, "i26_overflowing_model": _overflowing_model,
                   "i26_repeated_id": _repeated_id}
