#!/usr/bin/env Rscript
# Reference values for metsurv.stats.cox.survfit (Cox model predictions for new patients):
# R survival's survfit(coxph_fit, newdata = nd) with its defaults (ctype from the ties:
# Efron-adjusted cumulative hazard for an Efron fit, Breslow/Nelson-Aalen for a Breslow
# fit; std.err of the cumulative hazard with the variance of beta, conf.type "log") and
# summary(sf, times = ...), on R's veteran data (factor, yes/no and numeric covariates,
# tied times), for an Efron fit, a Breslow fit, a stratified fit (strata(trt)), a
# counting-process fit with delayed entry and a fit stratified by one of its covariates.
#
# Usage: Rscript tests/reference/make_survfit_coxph.R [outdir]
#   outdir defaults to the directory of this script. Writes <outdir>/data/survfit_coxph.csv
#   (the exact input Python reads) and <outdir>/survfit_coxph.json (the R results).
# Needs survival, jsonlite and common.R beside it. Deterministic (no random numbers).

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
source(file.path(script_dir, "common.R"))

v <- survival::veteran
d0 <- data.frame(time = v$time, status = v$status, celltype = as.character(v$celltype),
                 karno = v$karno, age = v$age, prior = v$prior == 10, trt = v$trt,
                 # delayed entry for every third patient (counting-process case)
                 entry = ifelse(seq_len(nrow(v)) %% 3 == 0, floor(v$time / 3), 0))
d <- write_input(d0, "survfit_coxph")
d$celltype <- factor(d$celltype)  # levels sorted: adeno (reference), large, smallcell, squamous

nd <- data.frame(celltype = c("squamous", "adeno", "large"), karno = c(60, 80, 40),
                 age = c(65, 50, 70), prior = c(FALSE, TRUE, FALSE), trt = c(1, 2, 1),
                 stringsAsFactors = FALSE)
times <- c(0.5, 10, 100, 365.5, 587)

cases <- list(
  efron = list(f = Surv(time, status) ~ celltype + karno + prior + age, ties = "efron"),
  breslow = list(f = Surv(time, status) ~ celltype + karno + prior + age, ties = "breslow"),
  strata = list(f = Surv(time, status) ~ celltype + karno + strata(trt), ties = "efron"),
  counting = list(f = Surv(entry, time, status) ~ celltype + karno, ties = "efron"),
  # a covariate that is also the stratum: its coefficients are NA (constant within every
  # stratum), survfit still predicts from the patient's stratum (NA coefficients count 0)
  covstrata = list(f = Surv(time, status) ~ celltype + karno + strata(celltype),
                   ties = "efron")
)

one <- function(fit, row) {
  sf <- survfit(fit, newdata = nd[row, , drop = FALSE])
  s <- summary(sf, times = times)
  list(time = sf$time, n_risk = sf$n.risk, n_event = sf$n.event, surv = sf$surv,
       cumhaz = sf$cumhaz, std_err = sf$std.err, lower = sf$lower, upper = sf$upper,
       at = list(time = s$time, surv = s$surv, std_err_surv = s$std.err,
                 lower = s$lower, upper = s$upper, cumhaz = s$cumhaz))
}

out <- list(survival_version = as.character(packageVersion("survival")),
            newdata = nd, times = times)
for (name in names(cases)) {
  cs <- cases[[name]]
  fit <- coxph(cs$f, data = d, ties = cs$ties)
  # all rows at once: R's matrix result (one column per patient, same as row by row)
  out[[name]] <- list(coef = unname(coef(fit)), ties = cs$ties,
                      patients = lapply(seq_len(nrow(nd)), function(i) one(fit, i)))
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, na = "null"),
           file.path(outdir, "survfit_coxph.json"))
