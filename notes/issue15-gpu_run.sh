#!/bin/bash
# deeprag adapt (issue 15, branch adapt): the training step on a GPU, over packs written by `deeprag adapt`
# (<index>/adapt-work/pack) with the project's trainer and adapt's recipe (retrieval/adaptation/training.py).
# Usage: NAMES="scifact nq" EVAL_STEPS="scifact:10 nq:10" bash .device/adapt-carry/run.sh
C=.device/adapt-carry
echo "tree: $(pwd) $(git log -1 --oneline 2>/dev/null)"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $C/whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true
python3 -c "import datasets, sentence_transformers, transformers, torch; print(datasets.__version__, sentence_transformers.__version__, transformers.__version__, torch.__version__, torch.cuda.get_device_name(0))" || exit 4
set -o pipefail
for spec in $SPECS; do
    IFS=':' read -r name steps <<< "$spec"
    S=$(date +%s)
    echo "== $name (eval every $steps steps)" | tee -a $OUT/log.txt
    python3 -m retrieval.reranker_training train --packed $C/packs/$name --base-model models/deeprag-reranker-minilm-l6 \
        --out /tmp/m-$name --loss mnrl --epochs 1 --batch-size 32 --lr 2e-5 --max-length 320 --hard-negatives 3 \
        --in-batch-negatives 4 --eval-steps $steps --patience 2 --max-seconds 300 2>&1 \
        | grep -vE "Batches|it/s\]|Writing model" | tee -a $OUT/log.txt || exit 6
    echo "== $name trained in $(( $(date +%s) - S )) s" | tee -a $OUT/log.txt
    cp /tmp/m-$name/final/training_summary.json $OUT/$name-training_summary.json
    [ "$name" = "$RETURN" ] && (cd /tmp/m-$name/final && tar cf - .) | split -b 16000000 - $OUT/$name.tar.part-
done
ls -la $OUT
