// Package estimate says how long and how much a training job takes on a pool
// of accelerators: FLOPs, memory per accelerator and whether it fits, the
// time of one step, the whole run around it, accelerator-hours and cost, and
// an 80 % interval around hours and cost, with every assumption stated in
// Result.Assumptions. The planner calls Estimate for every candidate pool; the
// CLI's `meridian estimate` prints one, and `meridian estimate --calibration`
// prints how the estimator does on published runs.
//
// The loader (catalog.Load, with AssumptionKeys) checks every field and
// spec.assumptions value of a job once, with its ranges; on each of the
// thousands of calls a plan makes, Estimate checks only what its numbers
// need to stay finite (no NaN or infinity, sizes above 0, assumptions in
// range, a price of 0 or more), and names the field that is not.
//
// # FLOPs
//
// Model FLOPs per token are 6·N (forward 2N, backward 4N; Kaplan et al. 2020)
// with N the active parameters, plus PaLM's attention term 12·L·h·T (layers,
// hidden size, sequence length) when all three are given. A full fine-tune is
// accounted as pretraining over its tokens. LoRA and QLoRA do the 2·N forward
// and the 2·N backward pass for activation gradients but no weight gradients
// for the frozen base, plus 6 FLOPs per adapter parameter; QLoRA's NF4
// de-quantisation is charged as extra time, not model FLOPs.
//
// # Memory
//
// Weights, gradients and optimizer state (16 B/param for mixed-precision
// AdamW; LoRA 2 B/param frozen + 16 B per adapter parameter; QLoRA 0.5 B/param
// frozen + 16 B per adapter parameter) are sharded over every chip as
// ZeRO-3/FSDP would: static ÷ count per chip. Activations follow Korthikanti
// et al. 2022 with tensor and sequence parallelism over t ranks: a layer kept
// with selective recomputation holds 34·T·b·h/t bytes, a layer checkpointed in
// full only its input, 2·T·b·h/t; the smallest power-of-two t up to the
// scale-up domain at which every layer fits is chosen, failing that the
// fewest layers checkpointed in full. MinCount searches for the smallest
// count that fits.
//
// # The step
//
// A shape the job leaves out is derived: h = (128·N/12)^(1/3) (hidden ÷
// layers = 128, as GPT-3 and Llama 2), L = N/(12·h²), and the sequence
// length of its chip's generation: 2,048 on chips launched before 2022,
// 8,192 since (each the median of the fitting half's runs on such chips).
// The derived shape's activations set the step's layout as a given shape's
// do; the reported memory leaves them out. The assumptions say so and the
// interval is the one of runs estimated from size alone.
//
//  1. Batch: the critical batch a·C^0.3271 tokens for a job of C FLOPs
//     (the exponent from DeepSeek LLM §3.1; the scale a fitted, since
//     DeepSeek's loss-optimal 0.292 is four to five times what whole runs
//     used). Data parallelism can use at most batch ÷ sequence replicas, so
//     a larger pool must split each replica further.
//  2. Layout: the fastest of the layouts the batch allows: tensor
//     parallelism (at least what activations need, at most the scale-up
//     domain) × pipeline stages × expert parallelism (MoE) per replica.
//  3. Compute: work ÷ (peak × E/(1+κ·(peak/BW)·(8192/h)^γ)) × recomputation
//     × (1 + pipeline bubble (p−1)/(v·m)), with the causal half of the
//     attention FLOPs, the busiest expert's extra load (MoE, capacity factor
//     1.25) and a penalty per year a chip predates 2020 (older stacks). E and
//     κ are solved from two published step MFUs at scale (Megatron 1T on
//     3,072 A100, 52 %; Llama 3.1 405B on 8,192 H100, 43 %); γ is fitted.
//  4. Communication: tensor-parallel collectives on the critical path;
//     data-parallel (ZeRO-3) and MoE all-to-all traffic overlapped with
//     compute, over scale-up bandwidth within a node and scale-out beyond.
//
// # The run
//
//	hours = steps × step × (1 + σ·√(2·ln nodes)) ÷ runEfficiency × (1 + checkpoint stalls) ÷ goodput + warm-up
//
// Stragglers: a step waits for the slowest node. Run efficiency is what a
// whole run realises of the tuned step rate (evaluation, data stalls,
// repeated steps). Checkpoints stall while each chip writes its state at
// Llama 3's storage share per GPU. Goodput is 1/(1 + count·τ/MTBF) from Llama
// 3's interruption log. Warm-up is the half hour a fresh allocation spends
// before its first step.
//
// # Calibration, the fit and the interval
//
// calibration/runs.yaml holds 68 published runs (pretraining and
// fine-tuning, dense and MoE, V100, A100, A800, H100, H800, GH200, B200,
// B300 and TPU v4, 1.0B to 1.2T parameters, 8 to 16,384 accelerators), each
// number with its source. The six published after July 2025 were added by
// a rule fixed before any of them was estimated, four together and two
// (Apertus 70B on GH200, Trinity Large on B300) when their chips joined the
// catalog; seventeen earlier runs found in December 2026 were added the
// same way, in three batches of eight, five and four; the same searches'
// runs that miss it are listed with why.
// Split assigns whole families (one publication's runs) in order of
// publication to the half with fewer runs so far. Five constants are fitted
// to the fitting half only, by fitConstants (fit.go): the hidden-size
// exponent γ, the straggler jitter σ, the older-stack penalty, the critical
// batch's scale and the run efficiency; the two default sequence lengths are
// the fitting half's medians. TestFit fails when fitted.go differs from what
// the fit gives. The interval is a normal in ln(real ÷ estimated hours) with
// median 0 whose σ is the root mean square of the fitting half's prediction
// errors with each family left out of its own fit, widened by
// t(k−1, 0.9)·√(1+1/k) ÷ z(0.9) for its k families (a family's runs share
// team, cluster and stack, so they err together); jobs that do not give
// their shape get the σ of runs estimated from size alone.
//
// Figures (meridian estimate --calibration), on 68 runs: estimated as
// published, the fitting half has a median absolute error of 13.9 %
// in-sample and 18.6 % cross-validated (each family predicted by a fit to
// the others), the held-out half 21.8 %; 82 %, 76 % and 82 % of reported
// values fall inside the 80 % interval. From size alone: 13.5 %, 18.4 % and
// 21.1 %; 85 %, 82 % and 85 %. Seventeen runs were found in December 2026
// that meet the set's rule, in three searches, and each search's runs were
// added before any of them was estimated: Granite 3.0's four,
// StableLM-3B-4E1T, phi-1.5, phi-2 and JetMoE-8B; then Skywork-13B,
// Nemotron-4 15B, Phi-3-mini as first released, Phi-3-small and
// Phi-3.5-MoE; then four SEA-LION runs (two from scratch on A100, two
// continued from Llama 3 8B and Gemma 2 9B on H100). Phi-3-mini moved the
// Phi-3 family's first publication from May to April 2024, and by the
// split's rule that moved many later families between the halves (Trinity
// Large, Granite 3.0 and Llama 4 to the held-out half; Hermes 4, Phi-4 and
// Llama 3.2 to the fitting one). Before each search the held-out figures
// were, as published and from size alone: 19.6 % and 21.6 % (51 runs),
// 18.5 % and 24.4 % (59), 21.6 % and 20.9 % (64); the held-out coverage
// from size alone 84 %, 69 % and 88 %. The new runs' own errors from size
// alone run from −44 % (Phi-3-small, 18 days on 1,024 H100 for 4.8T
// tokens, where its 14B sibling took 42 days on 512) to +71 % (Skywork-13B
// on A800); SEA-LION-v1-3B took 67 % more hours than predicted, its 7B
// sibling on the same cluster 27 % more.
// Before the runs published after July 2025 (Olmo 3 32B, Apertus
// 70B and Trinity Large to the fitting half, the three Hermes 4 fine-tunes
// to the held-out one) the held-out figures were 18.9 % and 18.2 %: the
// fine-tunes on B200 took 6–46 % more than predicted, the 14B most. Trinity
// Large, a 4-of-256 MoE on 2,048 B300, took twice its predicted hours
// (about 10 % of the B300's bf16 peak over the run): as a fitting run it
// lowered the fitted run efficiency from 0.888 to 0.879 and widened the
// interval (σ 0.243 to 0.282 as published), which moved the held-out
// figures from 18.8 % and 20.5 % to 19.6 % and 21.6 %, and their coverage
// from 72 % and 76 % to 80 % and 84 %. The held-out error is above
// the 15 % the issue asks for: most of what is left is between teams on
// the same chips, which nothing a user states tells apart: the LLaMA-1 runs
// are predicted 16–40 % over their hours while Llama 2 on the same cluster
// is predicted well; DeepSeek LLM 67B 42 % over from size alone where
// DeepSeek-V2 on the same cluster is within 8 %; on 40 GB A100s Llemma 34B
// took twice the predicted hours where Llemma 7B, from the same team and
// cluster, is within 13 %, and GLM-130B's hours are the bound of a 60-day
// window. Llama 3.2 1B was distilled from larger models' logits,
// work its hours include and its size does not show.
// TestCalibration keeps the figures from getting worse.
//
// Terms looked for and not added (before the runs of late 2025, on the
// 23 fitting runs of then). The fitting half's leave-one-family-out
// residuals, ln(reported ÷ estimated), were ranked against what a run
// states (chip year, count, active and total parameters, tokens per
// parameter, MoE or dense, fine-tune or pretrain, fp16 or bf16) and its
// publication year and hours per chip: no Spearman correlation over the 12
// families reaches 0.6 in either way of estimating (the largest: tokens
// per parameter −0.51 and −0.45, publication year −0.41 and −0.48, MoE
// −0.34 and −0.57), nothing a term could carry without fitting a few
// families' teams. Done again on the 34 fitting runs (20 families) of the
// 68-run set, with model size, tokens and sequence length added: the
// largest are tokens per parameter (−0.37 as published, −0.46 from size)
// and tokens (−0.31, −0.46); none reaches 0.5. Weighting each family
// equally in the fit, in place of each run, made the fitting half's
// cross-validated error worse (30.3 % and 18.5 % against 21.4 % and 11.4 %
// on the 59-run set), so the fit weighs runs. A scale-out link of 25 or 12.5 GB/s for chips before
// 2022 (200 Gb/s HDR, or less, per GPU) leaves the fitting half's in-sample
// error at 10.8 % or raises it to 11.3 % (as published; 8.7 % and 8.8 % from
// size), because data-parallel traffic hides behind compute. The other
// candidates were each refitted on the fitting half, to be kept only if
// its cross-validated median error (15.8 % as published, 11.2 % from size)
// fell both ways: moving the older-stack year from 2020 to 2022 gives
// 15.2 % and 12.6 %; fitting the MoE imbalance (it goes to 0) 15.8 % and
// 15.8 %; weighting each family as one draw in the fit 20.3 % and 12.4 %;
// a penalty per year of a run's publication before 2025 15.8 % and 10.1 %,
// but a user's run has no publication year and the fit then sets the run
// efficiency to 1, the optimism the calibration exists to correct.
//
// Three whole-run terms were tried on the 68-run set, each stated with its
// grid and a rule of choice before any was evaluated (runTerms in fit.go;
// TestCandidates with -candidates prints the figures): running time ×
// (tokens ÷ (20·active parameters))^β (Chinchilla's ratio), × (FLOPs ÷
// 10²³)^β, and ÷ ρ on chips launched before 2022. (The fit already
// minimises absolute, not squared, log errors.) Each refitted on the
// fitting half and its runs predicted by fits that had not seen them,
// leaving one run out and leaving its family out, as published and from
// size alone: no change 19.5 % and 17.5 % (one run out), 18.6 % and
// 18.4 % (family out); tokens per parameter (β −0.025) 18.3 % and 15.5 %,
// 20.7 % and 17.6 %; job FLOPs (β −0.025) 15.3 % and 15.1 %, 19.7 % and
// 18.1 %; older chips (ρ 1.1, with the run efficiency then 0.791) 18.8 %
// and 15.4 %, 19.6 % and 15.8 %. By the rule (better than no change both
// ways leaving one run out, and no worse on the mean of both ways leaving
// families out) the older chips' term was chosen, and estimated once on
// the held-out half: 24.7 % as published and 22.9 % from size alone
// (79 % and 79 % inside the interval), against 21.8 % and 21.1 % without
// it, though the fitting half's in-sample errors fell from 13.9 % and
// 13.5 % to 11.9 % and 10.5 %. It was not adopted.
//
// Nor does a team's own history help, which a user could otherwise feed
// in as a runEfficiency of its own (measured on the 49 runs of December
// 2026): each run of a family of two or more, its estimate scaled by the
// geometric mean of reported ÷ estimated over the family's other runs,
// has a median absolute error of 14.0 % on the fitting half's 16 such
// runs and 16.2 % on the held-out half's 13, against 10.3 % and 15.0 %
// unscaled (from size alone 12.2 % and 16.8 %, against 8.9 % and
// 18.4 %). Runs of one publication differ as much as publications do:
// Llemma 7B and 34B, Llama 3.2 1B and 3B, DeepSeek LLM and DeepSeek-V2.
//
// # Overrides
//
// A job's spec.assumptions map replaces constants by name; AssumptionKeys
// lists them with their meanings and accepted ranges, and the loader checks
// a job's keys against them (with the planner's). For example
//
//	spec:
//	  assumptions: {mfu: 0.35, goodput: 0.9, scaleOutGBs: 25, runEfficiency: 0.9}
//
// # Missing accelerator facts
//
// Unknown FP8 peak: the 16-bit peak is used. Unknown 16-bit peak: an error
// naming the accelerator and the fact. Unknown scale-up bandwidth: PCIe-class
// 64 GB/s. Unknown memory bandwidth: the H100 SXM's FLOP-per-byte balance.
// Unknown memory: fits is false and MinCount is 0. Each fallback is listed in
// the assumptions.
package estimate
