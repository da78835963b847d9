#!/usr/bin/env Rscript
# Reference values for metsurv's decision curve analysis at a horizon (issue 15 item 3),
# metsurv.stats.dca.decision_curve.
#
# dcurves is not installed and not in Debian's archive, so its survival computation
# (dcurves 0.5.x, R/dca.r and R/test_consequences.R: dca(Surv(time, status) ~ x, time = h))
# is written out here with survival::survfit, from Vickers, Cronin, Elkin & Gonen 2008
# ("Extensions to decision curve analysis", BMC Med Inform Decis Mak 8:53). For each
# predictor (a predicted risk of the event by h, 0-1) and threshold pt:
#   test_pos_rate = #(risk >= pt) / n
#   r(pt)   = 1 - S_KM(h) among the patients with risk >= pt
#   tp_rate = r(pt) * test_pos_rate,  fp_rate = (1 - r(pt)) * test_pos_rate
#   net_benefit = tp_rate - pt / (1 - pt) * fp_rate - harm
#   net_intervention_avoided = (net_benefit - net_benefit[treat all]) / (pt / (1 - pt)) * nper
#   standardized_net_benefit = net_benefit / pos_rate
# dcurves behaviours reproduced (read from its source):
#   * rows with a missing value in the outcome or in ANY predictor are dropped together
#     (stats::model.frame, na.omit); n counts the rows kept;
#   * "Treat All" (risk 1) and "Treat None" (risk 0) come first, then the predictors;
#   * risks exactly 0 become -.Machine$double.eps and exactly 1 become 1 + .Machine$double.eps
#     (so a 0 is never test-positive, even at threshold 0, and a 1 always is);
#   * a predictor outside [0, 1] is an error;
#   * .surv_to_risk: survfit(y ~ 1) read as broom::tidy does (one row per survfit time,
#     i.e. every distinct stop time, events and censorings): NA when the last such time is
#     before h ("KM does not reach h"), NA when no such time is <= h, else 1 - the survival
#     of the last time <= h;
#   * the outcome prevalence pos_rate = .surv_to_risk on everybody; NA is an error;
#   * nobody test-positive: survfit fails and dcurves' tryCatch gives r(pt) = 0 (so the net
#     benefit is 0); any other NA r(pt) gives NA rates and net benefit;
#   * Surv(entry, time, status) (delayed entry) goes through the same survfit.
#
# Usage: Rscript tests/reference/make_dca.R [outdir]
#   Writes <outdir>/data/dca_lung.csv, <outdir>/data/dca_sim.csv and <outdir>/dca.json.
#   Deterministic.

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
source(file.path(script_dir, "common.R"))

eps <- .Machine$double.eps

# dcurves:::.surv_to_risk (broom::tidy(survfit(y ~ 1)) has one row per fit$time)
surv_to_risk <- function(y, h) {
  fit <- survfit(y ~ 1)
  if (max(fit$time) < h) return(NA_real_)
  k <- which(fit$time <= h)
  if (!length(k)) return(NA_real_)
  1 - fit$surv[max(k)]
}

dca_surv <- function(d, time, status, preds, h, thresholds, entry = NULL,
                     harm = list(), nper = 1) {
  cols <- c(entry, time, status, preds)
  d <- d[complete.cases(d[cols]), , drop = FALSE]
  n <- nrow(d)
  y <- if (is.null(entry)) Surv(d[[time]], d[[status]]) else
    Surv(d[[entry]], d[[time]], d[[status]])
  for (p in preds) if (any(d[[p]] < 0 | d[[p]] > 1))
    stop("Error in ", p, ". All covariates/risks must be between 0 and 1.")
  prev <- surv_to_risk(y, h)
  if (is.na(prev)) stop("Cannot calculate outcome prevalence at specified time")
  risks <- c(list(all = rep(1, n), none = rep(0, n)), lapply(setNames(preds, preds),
                                                            function(p) d[[p]]))
  rows <- list()
  for (v in names(risks)) {
    r <- risks[[v]]
    r <- ifelse(r == 0, 0 - eps, ifelse(r == 1, 1 + eps, r))
    for (pt in thresholds) {
      pos <- r >= pt
      tpr <- sum(pos) / n
      rr <- tryCatch(surv_to_risk(y[pos], h), error = function(e) {
        if (sum(pos) == 0L) return(0)
        NA_real_
      })
      hv <- if (is.null(harm[[v]])) 0 else harm[[v]]
      rows[[length(rows) + 1]] <- data.frame(
        variable = v, n = n, threshold = pt, pos_rate = prev, test_pos_rate = tpr,
        risk_rate_among_test_pos = rr, tp_rate = rr * tpr, fp_rate = (1 - rr) * tpr,
        harm = hv)
    }
  }
  out <- do.call(rbind, rows)
  out$net_benefit <- out$tp_rate - out$threshold / (1 - out$threshold) * out$fp_rate -
    out$harm
  nb_all <- out$net_benefit[out$variable == "all"][match(out$threshold,
                                                         thresholds)]
  out$net_intervention_avoided <- (out$net_benefit - nb_all) /
    (out$threshold / (1 - out$threshold)) * nper
  out$standardized_net_benefit <- out$net_benefit / out$pos_rate
  out
}

thresholds <- seq(0, 0.99, by = 0.01)   # dcurves' default

# --- dataset 1: survival::lung (days; ties; censoring before the horizon; NA ph.ecog) ---
lung0 <- survival::lung
lung0$event <- as.integer(lung0$status == 2)
cfit <- coxph(Surv(time, event) ~ age + sex + ph.ecog, data = lung0)
nd <- lung0; nd$time <- 365
# dcurves' own as_probability conversion for Surv outcomes: exp(-expected) at the horizon
risk_cox <- rep(NA_real_, nrow(lung0))
ok <- complete.cases(lung0[c("age", "sex", "ph.ecog")])
risk_cox[ok] <- 1 - exp(-predict(cfit, newdata = nd[ok, ], type = "expected"))
lung_d <- data.frame(time = lung0$time, event = lung0$event, age = lung0$age,
                     sex = lung0$sex, ph_ecog = lung0$ph.ecog, risk_cox = risk_cox,
                     risk_ecog = c(0.3, 0.45, 0.6, 0.8)[lung0$ph.ecog + 1],
                     risk_binary = as.numeric(lung0$ph.ecog >= 2),
                     risk_age = round((lung0$age - 39) / 50, 2))
lung_d <- write_input(lung_d, "dca_lung")

# --- dataset 2: synthetic, half-month ties, heavy censoring before 24 months, delayed
# entry, and two hand-made predictors for dcurves' NA rules ---
set.seed(20261130)
n <- 500
x <- rnorm(n)
rate <- 0.02 * exp(0.8 * x)
t_event <- rexp(n, rate)
t_cens <- runif(n, 3, 60)
time <- pmax(0.5, ceiling(pmin(t_event, t_cens) * 2) / 2)
status <- as.integer(t_event <= t_cens)
h_sim <- 24
risk_true <- 1 - exp(-rate * h_sim)
entry <- ifelse(runif(n) < 0.25, pmin(floor(runif(n, 0, 12) * 2) / 2, time - 0.5), 0)
# risk_early: the 5 highest risks belong to patients censored before 24 months, so above
# 0.90 the KM of the test-positives never reaches the horizon (NA)
risk_early <- pmin(round(risk_true, 3), 0.9)
early <- which(status == 0 & time < h_sim)[1:5]
risk_early[early] <- c(0.95, 0.96, 0.97, 0.98, 0.985)
# risk_late: the 5 highest risks belong to patients followed past 24 months, so above 0.90
# no test-positive time is <= 24 (dcurves: NA although KM there is 1)
risk_late <- pmin(round(risk_true, 3), 0.9)
late <- which(time > h_sim)[1:5]
risk_late[late] <- c(0.95, 0.96, 0.97, 0.98, 0.985)
risk_round <- round(risk_true, 2)           # ties with the thresholds themselves
risk_round[sample(n, 8)] <- NA              # missing predictions
sim_d <- data.frame(time = time, status = status, entry = entry, risk_true = risk_true,
                    risk_round = risk_round, risk_early = risk_early, risk_late = risk_late)
sim_d <- write_input(sim_d, "dca_sim")

cases <- list(
  list(name = "lung_365", data = "dca_lung", time = "time", event = "event", entry = NULL,
       predictors = c("risk_cox", "risk_ecog", "risk_binary", "risk_age"), horizon = 365,
       harm = list(), nper = 1),
  list(name = "lung_730_harm", data = "dca_lung", time = "time", event = "event",
       entry = NULL, predictors = c("risk_cox", "risk_age"), horizon = 730,
       harm = list(risk_cox = 0.01), nper = 100),
  list(name = "sim_24", data = "dca_sim", time = "time", event = "status", entry = NULL,
       predictors = c("risk_true", "risk_round", "risk_early", "risk_late"),
       horizon = h_sim, harm = list(), nper = 1),
  list(name = "sim_24_entry", data = "dca_sim", time = "time", event = "status",
       entry = "entry", predictors = c("risk_true", "risk_early"), horizon = h_sim,
       harm = list(), nper = 1)
)
datasets <- list(dca_lung = lung_d, dca_sim = sim_d)

out <- lapply(cases, function(cs) {
  res <- dca_surv(datasets[[cs$data]], cs$time, cs$event, cs$predictors, cs$horizon,
                  thresholds, entry = cs$entry, harm = cs$harm, nper = cs$nper)
  list(name = cs$name, data = cs$data, time = cs$time, event = cs$event,
       entry = if (is.null(cs$entry)) NA else cs$entry, predictors = cs$predictors,
       horizon = cs$horizon, harm = if (length(cs$harm)) cs$harm else NA, nper = cs$nper,
       thresholds = thresholds, n = res$n[1], pos_rate = res$pos_rate[1],
       table = as.list(res))
})

write_json(list(r_version = R.version.string,
                survival_version = as.character(packageVersion("survival")), cases = out),
           file.path(outdir, "dca.json"), digits = NA, na = "string",
           auto_unbox = TRUE, pretty = FALSE)
