#!/bin/bash
# One device call (see notes/issue6.md): install the carried wheels, mine, train, return the model as tar parts
# (the device returns files of at most 16 MiB), then score SciFact and nq-oracle candidates.
# Expects .rrtrain/ (git-ignored, named in `carry`): whl/ (sentence-transformers 6.2.0, datasets 5.2.0, dill 0.4.1,
# multiprocess 0.70.19, bm25s 0.3.16), minilm-fp16/ (all-MiniLM-L6-v2 with fp16 weights), data/ (a gzip copy of
# reranker-train, scifact, nq-open-oracle/beir). Measured on one H100: mining 115 s, training 4.4 steps/s
# (batch 128 pairs, length 256), SciFact scoring ~60 s; nq-oracle scoring (265k pairs) did not fit in the
# remaining time of a 600 s call: pass --sets scifact or give it its own call.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .rrtrain/whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
python3 -c "import datasets, sentence_transformers, transformers, torch, pyarrow; print(datasets.__version__, sentence_transformers.__version__, transformers.__version__, torch.__version__, pyarrow.__version__, torch.cuda.get_device_name(0))" || exit 4
set -o pipefail
D=.rrtrain; M="python3 -m retrieval.reranker_training --data-dir $D/data"
S=$(date +%s)
$M mine --out /tmp/packed --bi-encoder $D/minilm-fp16 $MINE_ARGS 2>&1 | grep -v "Batches" | tee $OUT/log.txt || exit 5
echo "mined at $(( $(date +%s) - S )) s" | tee -a $OUT/log.txt
$M train --packed /tmp/packed --base-model $D/minilm-fp16 --out /tmp/model $TRAIN_ARGS 2>&1 | grep -vE "Batches|it/s\]" | tee -a $OUT/log.txt || exit 6
# Bring the model back BEFORE scoring: a run that outlives its limit still returns what $OUT holds.
cp /tmp/packed/manifest.json $OUT/packed-manifest.json
(cd /tmp/model/final && tar cf - .) | split -b 16000000 - $OUT/model.tar.part-
echo "trained at $(( $(date +%s) - S )) s" | tee -a $OUT/log.txt
$M score --model /tmp/model/final --bi-encoder $D/minilm-fp16 --out $OUT 2>&1 | grep -vE "Batches|it/s\]" | tee -a $OUT/log.txt || exit 7
echo "scored at $(( $(date +%s) - S )) s" | tee -a $OUT/log.txt


ls -la $OUT
