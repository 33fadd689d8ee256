#!/bin/bash
# One device call (see notes/issue6.md): install the carried wheels, then train one or more rerankers from
# packed data mined here (`python -m retrieval.reranker_training mine ...`, CPU, about a minute) and return each
# as tar parts (the device returns files of at most 16 MiB and 64 MiB in all: one fp16 model per call).
#   RUNS="name|packed folder|train arguments;name|...|..." bash retrieval/reranker_training/gpu_run.sh
# SCORE="candidates files" also scores them with each model (into $OUT/<name>-scores/); RETURN_MODELS=0 then
# returns only those scores, so an ablation of several models fits in one call's 64 MiB.
# Carry (64 MiB in all): .rrtrain/whl (sentence-transformers 6.2.0, datasets 5.2.0, dill 0.4.1,
# multiprocess 0.70.19, xxhash 4.1.0), .rrtrain/minilm-fp16 (all-MiniLM-L6-v2, fp16 weights, no ST modules),
# and the packed folder(s). Evaluation runs on the CPU afterwards (benchmarks/reranker_quality.py).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .rrtrain/whl/*.whl || exit 3
# The loss tokenizes in the main process: let the tokenizer use every core (recipe v1 ran it single-threaded).
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true
python3 -c "import datasets, sentence_transformers, transformers, torch; print(datasets.__version__, sentence_transformers.__version__, transformers.__version__, torch.__version__, torch.cuda.get_device_name(0))" || exit 4
set -o pipefail
S=$(date +%s)
IFS=';' read -ra specs <<< "$RUNS"
for spec in "${specs[@]}"; do
    IFS='|' read -r name packed train_args <<< "$spec"
    echo "== $name: $packed $train_args (at $(( $(date +%s) - S )) s)" | tee -a $OUT/log.txt
    python3 -m retrieval.reranker_training train --packed "$packed" --base-model .rrtrain/minilm-fp16 \
        --out /tmp/model-$name $train_args 2>&1 | grep -vE "Batches|it/s\]|Writing model" | tee -a $OUT/log.txt || exit 6
    cp /tmp/model-$name/final/training_summary.json $OUT/$name-training_summary.json
    if [ "${RETURN_MODELS:-1}" = 1 ]; then
        (cd /tmp/model-$name/final && tar cf - .) | split -b 16000000 - $OUT/$name.tar.part-
    fi
    if [ -n "$SCORE" ]; then
        python3 -m retrieval.reranker_training score --model /tmp/model-$name/final --candidates $SCORE \
            --out $OUT/$name-scores 2>&1 | grep -vE "Batches" | tail -3 | tee -a $OUT/log.txt
    fi
    echo "== $name done at $(( $(date +%s) - S )) s" | tee -a $OUT/log.txt
done
ls -la $OUT
