#!/usr/bin/env Rscript
# Reference values for metsurv.stats.effects.treatment_effects (issue 13, item 3): weighted
# and unweighted Kaplan-Meier curves per treatment, Cox HR with robust SE under case weights,
# and the RMST difference at a horizon, computed with R survival.
#
# Usage: Rscript tests/reference/make_effects.R [outdir]
#   outdir defaults to the directory of this script. Writes <outdir>/data/effects.csv (the
#   exact input Python reads) and <outdir>/effects.json (R's results, full precision).
# Needs survival, jsonlite and common.R beside it. Deterministic (set.seed).

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
source(file.path(script_dir, "common.R"))

# ------------------------------------------------------------------ input
# 300 patients: VATS is more likely with a single metastasis and a longer DFI, both of which
# also lower the hazard (confounding); 12 sternotomy patients that the comparison leaves out;
# times in half months (ties); stabilised inverse-probability weights from a logistic fit.
set.seed(20261313)
n <- 300
single <- rbinom(n, 1, 0.5)
dfi <- round(rexp(n, 1 / 30), 1)
p_vats <- plogis(-1 + 1.2 * single + 0.02 * dfi)
approach <- ifelse(runif(n) < p_vats, "vats", "thoracotomy")
approach[sample(n, 12)] <- "sternotomy"
hazard <- 0.03 * exp(-0.4 * (approach == "vats") - 0.6 * single - 0.01 * dfi)
t_event <- rexp(n, hazard)
t_cens <- runif(n, 12, 72)
time <- pmax(0.5, ceiling(pmin(t_event, t_cens) * 2) / 2)
status <- as.integer(t_event <= t_cens)
two <- approach != "sternotomy"
ps <- rep(NA_real_, n)
ps[two] <- fitted(glm(I(approach == "vats") ~ single + dfi, family = binomial,
                      subset = two))
share <- mean(approach[two] == "vats")
w <- ifelse(approach == "vats", share / ps, (1 - share) / (1 - ps))
d <- write_input(data.frame(time = time, status = status, approach = approach,
                            single = single, dfi = dfi, w = w), "effects")

# ------------------------------------------------------------------ R results
d2 <- d[d$approach %in% c("vats", "thoracotomy"), ]
d2$approach <- factor(d2$approach, levels = c("thoracotomy", "vats"))
times <- c(6, 12, 24, 36, 48)
tau <- 30

curves <- function(fit) {
  s <- summary(fit, times = times, extend = TRUE)
  list(group = sub("^[^=]*=", "", as.character(s$strata)), time = s$time, n_risk = s$n.risk,
       estimate = s$surv, std_err = s$std.err, lower = s$lower, upper = s$upper)
}
rmst <- function(fit) {
  tab <- summary(fit, rmean = tau)$table
  g <- sub("^[^=]*=", "", rownames(tab))
  est <- setNames(tab[, "rmean"], g)
  se <- setNames(tab[, "se(rmean)"], g)
  diff <- est[["vats"]] - est[["thoracotomy"]]
  dse <- sqrt(se[["vats"]]^2 + se[["thoracotomy"]]^2)
  list(group = g, rmst = unname(est), se = unname(se), difference = diff, difference_se = dse,
       lower = diff - qnorm(0.975) * dse, upper = diff + qnorm(0.975) * dse,
       p = 2 * pnorm(-abs(diff / dse)))
}
hr <- function(fit) {
  s <- summary(fit)$coefficients
  se_used <- if ("robust se" %in% colnames(s)) s[1, "robust se"] else s[1, "se(coef)"]
  list(coef = unname(coef(fit)), se = unname(sqrt(diag(if (is.null(fit$naive.var)) fit$var
                                                      else fit$naive.var))),
       robust_se = if ("robust se" %in% colnames(s)) s[1, "robust se"] else NA,
       hr = unname(exp(coef(fit))), lower = exp(coef(fit) - qnorm(0.975) * se_used)[[1]],
       upper = exp(coef(fit) + qnorm(0.975) * se_used)[[1]], p = s[1, "Pr(>|z|)"])
}

f_w <- survfit(Surv(time, status) ~ approach, data = d2, weights = w, conf.type = "log-log")
f_u <- survfit(Surv(time, status) ~ approach, data = d2, conf.type = "log-log")
out <- list(
  times = times, tau = tau,
  adjusted = list(
    call_km = "survfit(Surv(time, status) ~ approach, d2, weights = w, conf.type = 'log-log')",
    km = curves(f_w), rmst = rmst(f_w),
    call_cox = "coxph(Surv(time, status) ~ approach, d2, weights = w, robust = TRUE)",
    cox = hr(coxph(Surv(time, status) ~ approach, data = d2, weights = w, robust = TRUE))),
  unadjusted = list(
    call_km = "survfit(Surv(time, status) ~ approach, d2, conf.type = 'log-log')",
    km = curves(f_u), rmst = rmst(f_u),
    call_cox = "coxph(Surv(time, status) ~ approach, d2)",
    cox = hr(coxph(Surv(time, status) ~ approach, data = d2))),
  n = nrow(d2), n_excluded = sum(!two),
  generated_by = "tests/reference/make_effects.R", r_version = R.version.string,
  survival_version = as.character(packageVersion("survival")))
write_json(out, file.path(outdir, "effects.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, na = "string")
cat("wrote effects fixtures to", outdir, "\n")
