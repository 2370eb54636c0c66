#!/usr/bin/env bash
# Issue 17: evolution against fixed CNNs at equal training compute, selected on validation.
#
#   bash experiments/compare_at_equal_compute.sh [OUT] [DATA_ROOT]      (default runs/compare)
#
# Every run: 16 -> 24 networks (4 -> 8 species), 10% of the training set held out for selection
# (data.validation_fraction = 0.1, both sides), test accuracy logged beside it. Baselines run 100
# generations; the best baseline's training compute (C10[3x3]-C20s2[3x3]: 1.2e13 multiply-
# accumulates on MNIST and Fashion-MNIST, 1.7e13 on CIFAR-10) is the budget at which the levers
# run stops (--train-macs); the paper's set-up runs 100 generations (it spends less).
# Runs go in priority order, seed by seed, so a partial sweep already compares like with like.
# Re-running the same command resumes where it stopped (the runner skips finished runs).
# Then pack the logs into the repository and make the page from the packs (experiments/README.md):
#   python experiments/archive_runs.py OUT experiments/archive/compare
#   python experiments/make_results.py experiments/archive/compare --out docs/results-equal-compute.md \
#       --plots docs/results-equal-compute [--earlier <an earlier page's compute.csv files>]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/compare}
DATA=${2:-${ECOSIM_DATA:-}}
COMMON=(--set ecosystem.population=16 --set ecosystem.max_population=24 --set data.validation_fraction=0.1)
EVO=("${COMMON[@]}" --set ecosystem.species=4 --set ecosystem.max_species=8 --set ecosystem.offspring=8)
[ -n "$DATA" ] && COMMON+=(--data-root "$DATA") && EVO+=(--data-root "$DATA")
run() { python experiments/run_experiments.py "$@" --out "$OUT" || echo "runner failed: $*" >&2; }
# Phase 00000000000000 (session 41): the third seed of MNIST's levers-halving (the best mean among MNIST's
# lever sets with logs; phase 000 below ran seeds 0-1)
run experiments/levers/mnist-levers-halving.toml --seeds 2 --generations 800 --train-macs 1.2e13 \
  "${COMMON[@]}" --set ecosystem.species=4 --set ecosystem.max_species=8
# Phase 0000000000000 (session 40): the runs whose logs were lost with sweep 1 (docs/design.md "Keeping
# results"), again with logs: MNIST's reference baseline, the paper's set-up with and without speciation on
# MNIST and Fashion-MNIST, then Fashion-MNIST's reference and the small baselines
for seed in 0 1 2; do
  run experiments/baselines/mnist-C10-3x3-C20s2-3x3.toml --seeds $seed --generations 100 "${COMMON[@]}"
done
for seed in 0 1 2; do
  run experiments/mnist-no-speciation.toml --seeds $seed --generations 100 "${EVO[@]}"
  run experiments/mnist-speciation.toml --seeds $seed --generations 100 "${EVO[@]}"
done
for seed in 0 1; do
  run experiments/fashion-mnist-no-speciation.toml --seeds $seed --generations 100 "${EVO[@]}"
  run experiments/fashion-mnist-speciation.toml --seeds $seed --generations 100 "${EVO[@]}"
done
for seed in 0 1; do
  run experiments/baselines/fashion-mnist-C10-3x3-C20s2-3x3.toml --seeds $seed --generations 100 "${COMMON[@]}"
done
run experiments/baselines/mnist-C10-3x3.toml --seeds 0 --generations 100 "${COMMON[@]}"
for seed in 0 1 2; do
  run experiments/baselines/mnist-mlp-F64.toml --seeds $seed --generations 100 "${COMMON[@]}"
done
run experiments/baselines/fashion-mnist-mlp-F64.toml --seeds 0 --generations 100 "${COMMON[@]}"
run experiments/baselines/fashion-mnist-C10-3x3.toml --seeds 0 --generations 100 "${COMMON[@]}"
# Phase 000000000000 (session 39): the low-cost pilot, the small fixed C10[3x3] with the anneal schedule to the
# whole budget on Fashion-MNIST, seeds 0-1
for seed in 0 1; do
  run experiments/baselines/fashion-mnist-C10-3x3-anneal.toml --seeds $seed --generations 800 --train-macs 1.2e13 \
    "${COMMON[@]}"
done
# Phase 00000000000 (session 39): the CIFAR-10 headroom pilot, a wider fixed network (C16[3x3]-C32s2[3x3], 2.2x
# the multiply-accumulates of the best baseline) trained as that baseline at its compute, seeds 0-1
for seed in 0 1; do
  run experiments/baselines/cifar10-C16-3x3-C32s2-3x3.toml --seeds $seed --generations 800 --train-macs 1.7e13 \
    "${COMMON[@]}"
done
# Phase 0000000000 (session 38): levers-anneal seeded with the hand design on Fashion-MNIST (levers-seeded),
# seeds 0-2, beside the control of phase 0000
for seed in 0 1 2; do
  run experiments/levers/fashion-mnist-levers-seeded.toml --seeds $seed --generations 800 --train-macs 1.2e13 \
    "${COMMON[@]}" --set ecosystem.species=4 --set ecosystem.max_species=8
done
# Phase 000000000 (session 38): CIFAR-10's second seed a side (the best baseline and levers-wide, seed 1), then
# the equal-cost pilot: a fixed C8[3x3]-C16s2[3x3]-C24s2[3x3] at the best baseline's multiply-accumulates (+0.2%)
# with the anneal schedule on Fashion-MNIST, seeds 0-1
run experiments/baselines/cifar10-C10-3x3-C20s2-3x3.toml --seeds 1 --generations 100 "${COMMON[@]}"
run experiments/levers/cifar10-levers-wide.toml --seeds 1 --generations 400 --train-macs 1.7e13 "${COMMON[@]}" \
  --set ecosystem.species=4 --set ecosystem.max_species=8
for seed in 0 1; do
  run experiments/baselines/fashion-mnist-C8-3x3-C16s2-3x3-C24s2-3x3-anneal.toml --seeds $seed --generations 800 \
    --train-macs 1.2e13 "${COMMON[@]}"
done
# Phase 00000000 (session 37): the headroom pilot, a larger fixed network (C16[3x3]-C32s2[3x3], 2.3x the
# multiply-accumulates of the best baseline) with the anneal schedule on Fashion-MNIST, seeds 0-1; then
# MNIST's small fixed baseline with logs (seeds 1-2; seed 0 is an earlier page's row), so the table at
# fractions of the budget compares with the best fixed network there, as on Fashion-MNIST
for seed in 0 1; do
  run experiments/baselines/fashion-mnist-C16-3x3-C32s2-3x3-anneal.toml --seeds $seed --generations 800 \
    --train-macs 1.2e13 "${COMMON[@]}"
done
run experiments/baselines/mnist-C10-3x3.toml --seeds 1 2 --generations 100 "${COMMON[@]}"
# Phase 0000000, Fashion-MNIST levers-anneal and its control, seeds 3-4 (session 36): five pairs with
# phase 0000's seeds 0-2, the anneal schedule on both sides
for seed in 3 4; do
  run experiments/levers/fashion-mnist-levers-anneal.toml --seeds $seed --generations 800 --train-macs 1.2e13 \
    "${COMMON[@]}" --set ecosystem.species=4 --set ecosystem.max_species=8
  run experiments/baselines/fashion-mnist-C10-3x3-C20s2-3x3-anneal.toml --seeds $seed --generations 800 \
    --train-macs 1.2e13 "${COMMON[@]}"
done
# Phase 000000, Fashion-MNIST width (levers-anneal-wide: levers-anneal with 4 kernels per node mutation),
# three seeds beside the best baseline's three and levers-anneal's
for seed in 0 1 2; do
  run experiments/levers/fashion-mnist-levers-anneal-wide.toml --seeds $seed --generations 800 \
    --train-macs 1.2e13 "${COMMON[@]}" --set ecosystem.species=4 --set ecosystem.max_species=8
done
# Phase 00000, CIFAR-10 width (levers-wide: levers-settle with 4 kernels per node mutation), one seed
# beside the best baseline and levers-settle of phase 0
run experiments/levers/cifar10-levers-wide.toml --seeds 0 --generations 400 --train-macs 1.7e13 \
  "${COMMON[@]}" --set ecosystem.species=4 --set ecosystem.max_species=8
# Phase 0000, levers-halving with a learning-rate decay after the settle point (levers-anneal:
# 0.3x, 0.09x, 0.027x the rate in the three parts), each seed beside its control: the best baseline
# trained with the same schedule after half the budget (16, 8, 4 networks at the same rates).
for seed in 0 1 2; do
  for ds in mnist fashion-mnist; do
    run "experiments/levers/$ds-levers-anneal.toml" --seeds $seed --generations 800 --train-macs 1.2e13 \
      "${COMMON[@]}" --set ecosystem.species=4 --set ecosystem.max_species=8
    run "experiments/baselines/$ds-C10-3x3-C20s2-3x3-anneal.toml" --seeds $seed --generations 800 \
      --train-macs 1.2e13 "${COMMON[@]}"
  done
done
# Phase 000, search, then successive halving (levers-halving: levers-settle whose 16 networks are
# halved in each third of the rest of the budget, 16, 8, then 4): MNIST and Fashion-MNIST seed by seed.
for seed in 0 1 2; do
  for ds in mnist fashion-mnist; do
    run "experiments/levers/$ds-levers-halving.toml" --seeds $seed --generations 800 --train-macs 1.2e13 \
      "${COMMON[@]}" --set ecosystem.species=4 --set ecosystem.max_species=8
  done
done
# Phase 00, search, then train the 4 fittest (levers-focus: levers-settle with settle_keep 4, each of
# the 4 training about 4 times as long): MNIST and Fashion-MNIST seed by seed, then Fashion-MNIST's
# third baseline seed. The set runs for more generations (about 400), hence --generations 800.
FOCUS=(--generations 800 --train-macs 1.2e13 "${COMMON[@]}" --set ecosystem.species=4 --set ecosystem.max_species=8)
for seed in 0 1 2; do
  for ds in mnist fashion-mnist; do
    run "experiments/levers/$ds-levers-focus.toml" --seeds $seed "${FOCUS[@]}"
  done
done
run experiments/baselines/fashion-mnist-C10-3x3-C20s2-3x3.toml --seeds 2 --generations 100 "${COMMON[@]}"
# Phase 0, search, then train (levers-settle: levers-steady with no offspring after half the
# budget, the 16 fittest networks training on; the first set ahead of the best baseline on MNIST):
# its MNIST seeds, then Fashion-MNIST's best baseline and levers-settle seed by seed, MNIST seeds 3-4
# of both, then CIFAR-10
SETTLE=(--generations 400 --train-macs 1.2e13 "${COMMON[@]}" --set ecosystem.species=4 --set ecosystem.max_species=8)
for seed in 0 1 2; do
  run experiments/levers/mnist-levers-settle.toml --seeds $seed "${SETTLE[@]}"
done
for seed in 0 1 2; do
  run experiments/baselines/fashion-mnist-C10-3x3-C20s2-3x3.toml --seeds $seed --generations 100 "${COMMON[@]}"
  run experiments/levers/fashion-mnist-levers-settle.toml --seeds $seed "${SETTLE[@]}"
done
# two more MNIST seeds on both sides (at 3 a side the baseline's own spread sets the interval)
for seed in 3 4; do
  run experiments/baselines/mnist-C10-3x3-C20s2-3x3.toml --seeds $seed --generations 100 "${COMMON[@]}"
  run experiments/levers/mnist-levers-settle.toml --seeds $seed "${SETTLE[@]}"
done
# CIFAR-10, one seed: the best baseline, levers-settle, the paper's set-up
run experiments/baselines/cifar10-C10-3x3-C20s2-3x3.toml --seeds 0 --generations 100 "${COMMON[@]}"
run experiments/levers/cifar10-levers-settle.toml --seeds 0 --generations 400 --train-macs 1.7e13 \
  "${COMMON[@]}" --set ecosystem.species=4 --set ecosystem.max_species=8
run experiments/cifar10-no-speciation.toml --seeds 0 --generations 100 "${EVO[@]}"
# Phase 1, what the comparison needs, seed by seed: the best baseline, the best lever set
# (levers-params, a tie with the best baseline on MNIST), the earlier sets (levers-conv; on MNIST
# also the first set and the cost cap), the paper's set-up with and without speciation, and the two
# smaller baselines.
declare -A LEVERS=([mnist]="levers levers-conv" [fashion-mnist]="levers-conv")
for ds in mnist fashion-mnist; do
  for seed in 0 1 2; do
    run "experiments/baselines/$ds-C10-3x3-C20s2-3x3.toml" --seeds $seed --generations 100 "${COMMON[@]}"
    # the cost cap with eq. 9 on parameters: the budget, not 300 generations, ends it (~116 on MNIST)
    run "experiments/levers/$ds-levers-params.toml" --seeds $seed --generations 300 --train-macs 1.2e13 "${EVO[@]}"
    for set in ${LEVERS[$ds]}; do
      run "experiments/levers/$ds-$set.toml" --seeds $seed --generations 100 --train-macs 1.2e13 "${EVO[@]}"
    done
    # the cost cap (mutation.max_macs): its networks are cheap, so the budget, not 100 generations,
    # ends it (about 135 generations on MNIST)
    [ "$ds" = mnist ] && run experiments/levers/mnist-levers-cap.toml --seeds $seed --generations 300 --train-macs 1.2e13 "${EVO[@]}"
    run "experiments/$ds-no-speciation.toml" --seeds $seed --generations 100 "${EVO[@]}"
    run "experiments/$ds-speciation.toml" --seeds $seed --generations 100 "${EVO[@]}"
    run "experiments/baselines/$ds-C10-3x3.toml" "experiments/baselines/$ds-mlp-F64.toml" --seeds $seed \
      --generations 100 "${COMMON[@]}"
  done
done
# Phase 2, CIFAR-10, one seed: the other lever sets (levers-params first)
run experiments/levers/cifar10-levers-params.toml --seeds 0 --generations 300 --train-macs 1.7e13 "${EVO[@]}"
run experiments/levers/cifar10-levers-conv.toml --seeds 0 --generations 100 --train-macs 1.7e13 "${EVO[@]}"
# Phase 3 (MNIST), the cost cap with eq. 9 favouring the larger network, without and with the cap on
# crossover offspring; then the rising cap
for seed in 0 1 2; do
  for set in grow grow-xcap; do
    run "experiments/levers/mnist-levers-$set.toml" --seeds $seed --generations 300 --train-macs 1.2e13 "${EVO[@]}"
  done
done
# half the offspring per generation (4, not 8: the set's own value, so not EVO's)
for ds in mnist fashion-mnist; do
  for seed in 0 1 2; do
    run "experiments/levers/$ds-levers-steady.toml" --seeds $seed --generations 400 --train-macs 1.2e13 \
      "${COMMON[@]}" --set ecosystem.species=4 --set ecosystem.max_species=8
  done
done
# the rising cap (both datasets): the cap doubles every 80 generations, removals are not protected
for ds in mnist fashion-mnist; do
  for seed in 0 1 2; do
    run "experiments/levers/$ds-levers-rise.toml" --seeds $seed --generations 300 --train-macs 1.2e13 "${EVO[@]}"
  done
done
