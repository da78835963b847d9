#!/usr/bin/env Rscript
# Reference values for metsurv.stats.nomogram and metsurv.stats.score:
#  - rms::nomogram(cph_fit, fun = list(S(36 | lp), S(60 | lp))) with surv <- Survival(fit):
#    each predictor's Xbeta and points per level / axis value, the scale sc, the intercept,
#    the Total Points axis, rms's function axes (placed by rms's approximate inversion), and
#    the exact total-points -> S(t) map (surv(t, lp) at lp = P / sc + Intercept for
#    P = 0, 1, ..., max total) and the exact place of each S(t) tick
#    (lp = log(log(s) / log(surv(t, 0)))), for three models: factors + a numeric covariate,
#    a single factor, a single numeric covariate;
#  - survival::concordance(Surv ~ score, reverse = TRUE) of the Sullivan et al. (2004)
#    integer score (points = round(effect / B), each category's effect measured from its
#    covariate's lowest-risk category, B the smallest non-zero effect; a numeric covariate
#    in the categories of pretty(range(x), 4), reference value the median in each
#    category) and of
#    the IRLM grouping (I < II < III < IV) on the same patients.
# cph is fitted with eps = 1e-9 and toler.chol = .Machine$double.eps^0.75 (coxph's
# defaults; cph's own eps = 1e-4 stops earlier) so that its coefficients are coxph's.
#
# Input: tests/reference/data/nomogram_cohort.csv, written once from metsurv's synthetic
# cohort (Python: analysis_frame(generate("irlm1997", n=500, seed=15)), complete rows of
# os_months, os_event, complete_resection (yes/no), dfi_group, n_metastases_group,
# age = age_at_metastasectomy, irlm_group) and committed; this script only reads it.
#
# Usage: Rscript tests/reference/make_nomogram.R [outdir]
#   outdir defaults to the directory of this script; writes
#   <outdir>/data/nomogram_cohort.json.
# Needs rms (6.5-0), survival, jsonlite. Deterministic.

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
suppressPackageStartupMessages({
  library(rms)
  library(survival)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else script_dir

d <- read.csv(file.path(script_dir, "data", "nomogram_cohort.csv"), stringsAsFactors = FALSE)
for (v in c("complete_resection", "dfi_group", "n_metastases_group", "irlm_group"))
  d[[v]] <- factor(d[[v]])
dd <- datadist(d)
options(datadist = "dd")

times <- c(36, 60)
fun_at <- c(0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.01)
cases <- list(
  full = c("complete_resection", "dfi_group", "n_metastases_group", "age"),
  single_factor = "dfi_group",
  single_numeric = "age"
)

one_nomogram <- function(covs) {
  form <- as.formula(paste("Surv(os_months, os_event) ~", paste(covs, collapse = " + ")))
  fit <- cph(form, data = d, x = TRUE, y = TRUE, surv = TRUE, eps = 1e-9,
             tol = .Machine$double.eps^0.75)
  surv <- Survival(fit)
  funs <- lapply(times, function(t) { force(t); function(lp) surv(t, lp) })
  nom <- nomogram(fit, fun = funs, funlabel = paste0("S", times), fun.at = fun_at,
                  maxscale = 100, nint = 10)
  info <- attr(nom, "info")
  preds <- lapply(covs, function(v) {
    p <- nom[[v]]
    list(values = as.character(p[[v]]), xbeta = unname(p$Xbeta), points = unname(p$points))
  })
  names(preds) <- covs
  total <- nom$total.points$x
  P <- seq(0, max(total), by = 1)
  lp <- P / info$sc + info$Intercept
  exact <- list(total_points = P, lp = lp)
  ticks <- list()
  for (i in seq_along(times)) {
    exact[[paste0("S", times[i])]] <- unname(surv(times[i], lp))
    s0 <- unname(surv(times[i], 0))
    ticks[[paste0("S", times[i])]] <- list(
      survival = fun_at, total_points = (log(log(fun_at) / log(s0)) - info$Intercept) * info$sc,
      rms_survival = nom[[paste0("S", times[i])]]$x.real,
      rms_total_points = nom[[paste0("S", times[i])]]$x)
  }
  list(covariates = covs, coef = unname(coef(fit)), sc = info$sc,
       intercept = unname(info$Intercept), total_axis = total, predictors = preds,
       exact = exact, ticks = ticks)
}

# ---- the Sullivan integer score and the C-indexes
score_case <- function() {
  covs <- c("complete_resection", "dfi_group", "n_metastases_group", "age")
  br <- pretty(range(d$age), 4)
  inner <- br[-c(1, length(br))]
  d$age_cat <- findInterval(d$age, inner)
  W <- tapply(d$age, d$age_cat, median)
  fit <- coxph(Surv(os_months, os_event) ~ complete_resection + dfi_group +
                 n_metastases_group + age, data = d)
  b <- coef(fit)
  eff <- list()
  for (v in covs[1:3]) {
    lev <- levels(d[[v]])
    e <- c(0, unname(b[paste0(v, lev[-1])]))
    names(e) <- lev
    eff[[v]] <- e
  }
  eff$age <- unname(b["age"]) * (W - W[1])
  names(eff$age) <- names(W)
  eff <- lapply(eff, function(e) e - min(e))  # from the lowest-risk category
  all <- unlist(eff)
  B <- min(all[all > 0])
  pts <- lapply(eff, function(e) round(e / B))
  score <- pts$complete_resection[as.character(d$complete_resection)] +
    pts$dfi_group[as.character(d$dfi_group)] +
    pts$n_metastases_group[as.character(d$n_metastases_group)] +
    pts$age[as.character(d$age_cat)]
  d$score <- unname(score)
  d$irlm <- as.integer(d$irlm_group)
  cs <- concordance(Surv(os_months, os_event) ~ score, data = d, reverse = TRUE)
  ci <- concordance(Surv(os_months, os_event) ~ irlm, data = d, reverse = TRUE)
  cf <- concordance(fit)
  list(B = B, age_breaks = inner, age_reference = unname(W),
       points = lapply(pts, function(p) as.list(p)), score = d$score,
       c_score = unname(cs$concordance), c_score_se = sqrt(unname(cs$var)),
       c_irlm = unname(ci$concordance), c_irlm_se = sqrt(unname(ci$var)),
       c_cox = unname(cf$concordance), irlm_levels = levels(d$irlm_group))
}

# R's pretty() on the ranges a nomogram axis meets (nomogram.r_pretty)
pretty_cases <- list(c(16, 88, 10), c(23.4, 81.2, 10), c(0, 213.7, 10), c(-0.82, 1.19, 10),
                     c(0.003, 0.0071, 5), c(16, 88, 4), c(5, 5, 10), c(0, 0, 10),
                     c(-3.5, -1.2, 10), c(1e5, 3.3e5, 10))
pretty_out <- lapply(pretty_cases, function(z) list(lo = z[1], hi = z[2], n = z[3],
                                                    values = pretty(z[1:2], n = z[3])))

out <- list(pretty = pretty_out, rms_version = as.character(packageVersion("rms")),
            survival_version = as.character(packageVersion("survival")),
            times = times, fun_at = fun_at,
            nomogram = lapply(cases, one_nomogram), score = score_case())
dir.create(file.path(outdir, "data"), recursive = TRUE, showWarnings = FALSE)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, na = "null"),
           file.path(outdir, "data", "nomogram_cohort.json"))
