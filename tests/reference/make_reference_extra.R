#!/usr/bin/env Rscript
# Reference values for metsurv.stats competing risks, RMST, counting-process Cox and
# landmark analysis, computed with R survival and cmprsk.
#
# Usage: Rscript tests/reference/make_reference_extra.R [outdir]
#   outdir defaults to the directory of this script. Writes <outdir>/data/extra_*.csv (the
#   exact inputs Python reads) and <outdir>/extra_*.json (the R results, full precision).
# Needs survival, cmprsk, jsonlite and common.R beside it. Deterministic (set.seed).

# the directory of this script (also when run from elsewhere): common.R lies beside it
script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
source(file.path(script_dir, "common.R"))
suppressPackageStartupMessages(library(cmprsk))

write_fixture <- function(x, name) {
  x$generated_by <- "tests/reference/make_reference_extra.R"
  x$r_version <- R.version.string
  x$survival_version <- as.character(packageVersion("survival"))
  x$cmprsk_version <- as.character(packageVersion("cmprsk"))
  write_json(x, file.path(outdir, paste0(name, ".json")), digits = NA, auto_unbox = TRUE,
             pretty = TRUE, na = "null")
}

# ------------------------------------------------------------------ competing risks
# 360 patients, whole months (heavy ties, including recurrence and death at the same month),
# three groups with different recurrence incidence, two strata.
set.seed(19970101)
n <- 360
grp <- sample(c("a", "b", "c"), n, replace = TRUE, prob = c(.45, .35, .20))
stratum <- sample(c("s1", "s2"), n, replace = TRUE)
rate_rec <- c(a = 0.025, b = 0.045, c = 0.07)[grp]
t_rec <- ceiling(rexp(n, rate_rec))
t_death <- ceiling(rexp(n, 0.015 * ifelse(stratum == "s2", 1.5, 1)))
t_cens <- sample(6:72, n, replace = TRUE)
time <- pmin(t_rec, t_death, t_cens)
status <- ifelse(time == t_cens & t_cens < pmin(t_rec, t_death), 0L,
                 ifelse(t_rec <= t_death, 1L, 2L))
cr <- write_input(data.frame(time = as.double(time), status = status, grp = grp,
                             stratum = stratum), "extra_cr")

cuminc_json <- function(fit) {
  curves <- list()
  for (nm in setdiff(names(fit), "Tests"))
    curves[[nm]] <- list(time = fit[[nm]]$time, est = fit[[nm]]$est, var = fit[[nm]]$var)
  out <- list(curves = curves)
  if (!is.null(fit$Tests)) {
    tt <- fit$Tests
    out$tests <- lapply(rownames(tt), function(cause)
      list(cause = cause, stat = unname(tt[cause, "stat"]), pv = unname(tt[cause, "pv"]),
           df = unname(tt[cause, "df"])))
  }
  out
}
sub2 <- cr[cr$grp != "c", ]
crfits <- list(
  three_groups = list(
    call = "cuminc(time, status, grp, cencode = 0)",
    fit = cuminc_json(with(cr, cuminc(time, status, grp, cencode = 0)))),
  three_groups_rho1 = list(
    call = "cuminc(time, status, grp, rho = 1)",
    fit = cuminc_json(with(cr, cuminc(time, status, grp, rho = 1)))),
  three_groups_strata = list(
    call = "cuminc(time, status, grp, strata = stratum)",
    fit = cuminc_json(with(cr, cuminc(time, status, grp, strata = stratum)))),
  two_groups = list(
    call = "cuminc(time, status, grp) on grp != 'c'",
    fit = cuminc_json(with(sub2, cuminc(time, status, grp)))),
  one_group = list(
    call = "cuminc(time, status)",
    fit = cuminc_json(with(cr, cuminc(time, status))))
)
# edge cases: a group without any cause-1 event, a single-patient group, and a group whose
# all-cause KM reaches 0 with tied events of both causes at its last time
edge <- write_input(data.frame(
  time = c(2, 3, 3, 5, 6, 8, 8, 9, 1, 4, 4, 7, 10, 12, 4, 2, 5, 5, 6, 6, 6),
  status = c(2L, 0L, 2L, 2L, 0L, 2L, 0L, 2L, 1L, 1L, 2L, 0L, 1L, 1L, 1L,
             1L, 2L, 1L, 0L, 1L, 2L),
  grp = c(rep("none", 8), rep("some", 6), "single", rep("zero", 6))), "extra_cr_edge")
crfits$edge <- list(
  call = "cuminc(time, status, grp) on extra_cr_edge",
  fit = cuminc_json(with(edge, cuminc(time, status, grp))))
# cause-specific Cox for cause 1 (death and censoring both censor)
cs <- coxph(Surv(time, status == 1) ~ grp, data = cr, ties = "efron")
crfits$cause_specific_cox <- list(
  call = "coxph(Surv(time, status == 1) ~ grp, ties = 'efron')",
  coef = unname(coef(cs)), names = names(coef(cs)), var = unname(as.matrix(vcov(cs))),
  loglik = cs$loglik)
# first events as metsurv's loader derives them (schema.FIRST_EVENTS): pulmonary recurrence
# the cause of interest; extrathoracic recurrence, recurrence of unknown site and death
# without recurrence distinct competing causes; some rows without a first event (DFS
# unknown), which cmprsk omits (na.action) and metsurv counts in n_dropped.
set.seed(19970103)
n <- 300
fe_grp <- sample(c("a", "b"), n, replace = TRUE)
fe_time <- as.double(sample(1:60, n, replace = TRUE))
fe_levels <- c("event_free", "pulmonary_recurrence", "death_without_recurrence",
               "extrathoracic_recurrence", "recurrence_site_unknown")
fe_prob <- rbind(a = c(.30, .30, .15, .15, .10), b = c(.25, .40, .10, .15, .10))
fe <- vapply(fe_grp, function(g) sample(fe_levels, 1, prob = fe_prob[g, ]), "")
fe[sample(n, 15)] <- NA
fe_data <- write_input(data.frame(time = fe_time, first_event = unname(fe), grp = fe_grp),
                       "extra_cr_first_event")
# status codes as metsurv.stats.competing: 0 event-free, 1 pulmonary recurrence, 2 death
# without recurrence, 3 extrathoracic recurrence, 4 recurrence of unknown site
fe_data$status <- match(fe_data$first_event, fe_levels) - 1L
crfits$first_event <- list(
  call = paste("cuminc(time, status, grp, cencode = 0) on extra_cr_first_event, status",
               "0 event_free, 1 pulmonary, 2 death, 3 extrathoracic, 4 site unknown"),
  n_omitted = sum(is.na(fe_data$status)),
  fit = cuminc_json(with(fe_data, cuminc(time, status, grp, cencode = 0))))
fe_cs <- coxph(Surv(time, status == 1) ~ grp, data = fe_data, ties = "efron")
crfits$first_event_cause_specific_cox <- list(
  call = "coxph(Surv(time, status == 1) ~ grp, ties = 'efron') on extra_cr_first_event",
  coef = unname(coef(fe_cs)), names = names(coef(fe_cs)),
  var = unname(as.matrix(vcov(fe_cs))), loglik = fe_cs$loglik, n = fe_cs$n,
  nevent = fe_cs$nevent)
write_fixture(crfits, "extra_cr")

# ------------------------------------------------------------------ RMST
lung2 <- with(survival::lung, data.frame(time = as.double(time),
                                         event = as.integer(status == 2),
                                         sex = ifelse(sex == 1, "male", "female")))
lung2 <- write_input(lung2, "extra_rmst")
rmst_one <- function(fit, tau) {
  tab <- summary(fit, rmean = tau)$table
  if (is.null(dim(tab))) tab <- t(as.matrix(tab))
  list(tau = tau, strata = if (is.null(rownames(tab))) "all" else rownames(tab),
       rmean = unname(tab[, "rmean"]), se = unname(tab[, "se(rmean)"]))
}
fit_all <- survfit(Surv(time, event) ~ 1, data = lung2)
fit_sex <- survfit(Surv(time, event) ~ sex, data = lung2)
# 1022 is the largest time (a censoring), 1100 lies beyond it, 310 is a tied death time.
taus <- c(180, 310, 365, 730, 1022, 1100)
rm <- list(
  overall = lapply(taus, function(tau) rmst_one(fit_all, tau)),
  by_sex = lapply(taus, function(tau) rmst_one(fit_sex, tau)))
# survRM2-style difference (normal approximation), written out: female minus male
rm$difference <- lapply(taus, function(tau) {
  r <- rmst_one(fit_sex, tau)
  d <- r$rmean[1] - r$rmean[2]
  se <- sqrt(r$se[1]^2 + r$se[2]^2)
  list(tau = tau, diff = d, se = se, lower = d - qnorm(0.975) * se,
       upper = d + qnorm(0.975) * se, p = 2 * pnorm(-abs(d / se)))
})
rm$call <- "summary(survfit(Surv(time, event) ~ sex, data = lung), rmean = tau)$table"
write_fixture(rm, "extra_rmst")

# ------------------------------------------------------------------ KM at given times
# summary(fit, times) beyond a curve's last time (female 965, male 1022): dropped by
# default (extend = FALSE), carried forward with n.risk 0 when extend = TRUE.
km_times <- c(180, 365, 900, 965, 1000, 1022, 1100)
km_at <- function(fit, extend) {
  s <- summary(fit, times = km_times, extend = extend)
  list(call = sprintf("summary(fit, times = c(%s), extend = %s)",
                      paste(km_times, collapse = ", "), extend),
       strata = if (is.null(s$strata)) rep("all", length(s$time)) else
         sub("^sex=", "", as.character(s$strata)),
       time = s$time, surv = s$surv, std_err = s$std.err, lower = s$lower,
       upper = s$upper, n_risk = s$n.risk)
}
km_sex <- survfit(Surv(time, event) ~ sex, data = lung2, conf.type = "log-log")
km_all <- survfit(Surv(time, event) ~ 1, data = lung2, conf.type = "log-log")
write_fixture(list(
  fit = "survfit(Surv(time, event) ~ sex, data = lung, conf.type = 'log-log')",
  times = km_times,
  by_sex = km_at(km_sex, FALSE), by_sex_extend = km_at(km_sex, TRUE),
  overall = km_at(km_all, FALSE), overall_extend = km_at(km_all, TRUE)), "extra_km")

# ------------------------------------------------------------------ counting-process Cox
# Patients: death hazard 0.015/month * exp(0.5 x); recurrence at rate 0.05/month; a repeat
# metastasectomy 1-6 months after recurrence for 60% of recurrences, a third for some;
# after a repeat resection the death hazard is multiplied by 0.7. Whole months: tied stops.
set.seed(20010601)
n <- 300
x <- round(rnorm(n), 2)
lam <- 0.015 * exp(0.5 * x)
t0 <- rexp(n, lam)
t_rec <- rexp(n, 0.05)
gets <- runif(n) < 0.6
rr1 <- ifelse(gets, ceiling(t_rec + runif(n, 1, 6)), NA)
rr2 <- ifelse(!is.na(rr1) & runif(n) < 0.3, rr1 + sample(4:20, n, replace = TRUE), NA)
t_death <- ifelse(!is.na(rr1) & rr1 < t0, rr1 + (t0 - rr1) / 0.7, t0)
t_death <- ceiling(t_death)
t_cens <- sample(12:120, n, replace = TRUE)
os <- pmin(t_death, t_cens)
ev <- as.integer(t_death <= t_cens)
rr1[!is.na(rr1) & rr1 >= os] <- NA
rr2[is.na(rr1) | (!is.na(rr2) & rr2 >= os)] <- NA
pat <- data.frame(patient_id = sprintf("P%03d", 1:n), os_months = as.double(os),
                  os_event = ev, x = x, rr1_months = as.double(rr1),
                  rr2_months = as.double(rr2))
pat <- write_input(pat, "extra_tv_patients")
cp <- do.call(rbind, lapply(seq_len(nrow(pat)), function(i) {
  p <- pat[i, ]
  cuts <- c(0, p$rr1_months, p$rr2_months, p$os_months)
  cuts <- cuts[!is.na(cuts)]
  k <- length(cuts) - 1
  data.frame(patient_id = p$patient_id, start = cuts[1:k], stop = cuts[2:(k + 1)],
             event = c(rep(0L, k - 1), p$os_event),
             repeat_resection = (1:k) >= 2, resection_number = 1:k)
}))
cp <- write_input(cp, "extra_tv_cp")
cp <- merge(cp, pat[, c("patient_id", "x")], by = "patient_id", sort = FALSE)
cp$repeat_resection <- as.integer(as.logical(cp$repeat_resection))
cox_json <- function(fit, call, zph = FALSE) {
  out <- list(call = call, coef = unname(coef(fit)), names = names(coef(fit)),
              var = unname(as.matrix(vcov(fit))), loglik = fit$loglik,
              naive_var = if (is.null(fit$naive.var)) NULL else unname(fit$naive.var),
              score = unname(fit$score), wald = unname(fit$wald.test),
              robust_score = if (is.null(fit$rscore)) NULL else unname(fit$rscore),
              n = fit$n, nevent = fit$nevent,
              # what summary(fit) prints: concordancefit(y, lp, strata, reverse = TRUE
              # [, cluster]); for (start, stop] data R's concordance4 (risk sets)
              concordance = unname(fit$concordance["concordance"]),
              concordance_se = unname(fit$concordance["std"]),
              concordance_count = as.list(fit$concordance[1:5]))
  if (zph) {
    z <- cox.zph(fit, transform = "km")
    out$zph <- list(call = "cox.zph(fit, transform = 'km')", terms = rownames(z$table),
                    chisq = unname(z$table[, "chisq"]), df = unname(z$table[, "df"]),
                    p = unname(z$table[, "p"]), x = unname(z$x), time = unname(z$time),
                    y = unname(z$y))
    zr <- cox.zph(fit, transform = "rank")
    out$zph_rank <- list(chisq = unname(zr$table[, "chisq"]), p = unname(zr$table[, "p"]))
  }
  out
}
# strata without a new random draw: odd and even patient numbers
cp$parity <- ifelse(as.integer(sub("^P", "", cp$patient_id)) %% 2 == 0, "even", "odd")
tv <- list(
  efron = cox_json(coxph(Surv(start, stop, event) ~ repeat_resection + x, data = cp),
                   "coxph(Surv(start, stop, event) ~ repeat_resection + x, ties = 'efron')"),
  breslow = cox_json(coxph(Surv(start, stop, event) ~ repeat_resection + x, data = cp,
                           ties = "breslow"),
                     "coxph(Surv(start, stop, event) ~ repeat_resection + x, ties = 'breslow')"),
  number = cox_json(coxph(Surv(start, stop, event) ~ resection_number + x, data = cp),
                    "coxph(Surv(start, stop, event) ~ resection_number + x)"),
  robust = cox_json(coxph(Surv(start, stop, event) ~ repeat_resection + x, data = cp,
                          cluster = patient_id),
                    "coxph(Surv(start, stop, event) ~ repeat_resection + x, cluster = patient_id)",
                    zph = TRUE),
  efron_zph = cox_json(coxph(Surv(start, stop, event) ~ repeat_resection + x, data = cp),
                       "coxph(Surv(start, stop, event) ~ repeat_resection + x); cox.zph(fit)",
                       zph = TRUE),
  strata_breslow_robust = cox_json(
    coxph(Surv(start, stop, event) ~ repeat_resection + x + strata(parity), data = cp,
          cluster = patient_id, ties = "breslow"),
    paste("coxph(Surv(start, stop, event) ~ repeat_resection + x + strata(parity),",
          "cluster = patient_id, ties = 'breslow')"), zph = TRUE),
  strata_efron = cox_json(
    coxph(Surv(start, stop, event) ~ resection_number + x + strata(parity), data = cp),
    "coxph(Surv(start, stop, event) ~ resection_number + x + strata(parity))", zph = TRUE)
)
# landmark at 24 months: alive and under follow-up beyond 24, exposure = repeat by 24
lm <- pat[pat$os_months > 24, ]
lm$rr24 <- as.integer(!is.na(lm$rr1_months) & lm$rr1_months <= 24)
lm$t <- lm$os_months - 24
lmcox <- coxph(Surv(t, os_event) ~ rr24 + x, data = lm)
lmkm <- survfit(Surv(t, os_event) ~ rr24, data = lm)
s <- summary(lmkm, times = c(12, 36, 60))
tv$landmark <- list(
  at = 24, n = nrow(lm), n_exposed = sum(lm$rr24),
  cox = cox_json(lmcox, "coxph(Surv(os_months - 24, os_event) ~ rr24 + x, subset os_months > 24)"),
  km = list(strata = as.character(s$strata), time = s$time, surv = s$surv,
            std_err = s$std.err))
# (start, stop] times with floating-point noise: each month boundary recomputed from whole
# days along two arithmetic paths, the stop of one row and the start of the next by
# different paths; aeqSurv must merge start and stop together (else a patient would be at
# risk twice, or not at all, at an event time equal to a boundary)
set.seed(20240229)
to_months <- function(m) {
  days <- round(m * 30.4375)
  part <- pmax(1, pmin(days - 1, round(days * runif(length(days)))))
  way2 <- runif(length(days)) < 0.5
  ifelse(way2, part / 30.4375 + (days - part) / 30.4375, days / 30.4375)
}
nt <- cp[order(cp$patient_id, cp$start), c("patient_id", "start", "stop", "event",
                                              "repeat_resection", "x")]
nt$start <- ifelse(nt$start == 0, 0, to_months(nt$start))
nt$stop <- to_months(nt$stop)
nt <- write_input(nt, "extra_tv_neartie")
stopifnot(sum(nt$start[-1] != nt$stop[-nrow(nt)] &
              nt$patient_id[-1] == nt$patient_id[-nrow(nt)]) > 0)  # the near ties exist
tv$neartie <- cox_json(coxph(Surv(start, stop, event) ~ repeat_resection + x, data = nt,
                             cluster = patient_id),
                       "coxph(Surv(start, stop, event) ~ repeat_resection + x, cluster = patient_id) on extra_tv_neartie",
                       zph = TRUE)
tv$neartie$n_unique_aeq <- length(unique(c(aeqSurv(Surv(nt$start, nt$stop, nt$event))[, 1:2])))
write_fixture(tv, "extra_tv")

# ------------------------------------------------------------------ schema reference levels
# Yes/no and coded factors against the IRLM reference (R relevel): incomplete vs complete
# resection, DFI groups vs >= 36 months, LMS vs other sarcoma.
set.seed(19970102)
n <- 400
complete <- runif(n) < 0.75
dfi <- sample(c("0-11", "12-35", ">=36"), n, replace = TRUE, prob = c(.35, .35, .3))
lms <- runif(n) < 0.3
lp <- 0.6 * !complete + 0.4 * (dfi == "0-11") + 0.2 * (dfi == "12-35") + 0.3 * lms
t_death <- ceiling(rexp(n, 0.02 * exp(lp)))
t_cens <- sample(12:120, n, replace = TRUE)
sc <- write_input(data.frame(os_months = as.double(pmin(t_death, t_cens)),
                             os_event = as.integer(t_death <= t_cens),
                             complete_resection = complete, dfi_group = dfi,
                             leiomyosarcoma = lms), "extra_schema")
sc$complete_resection <- relevel(factor(sc$complete_resection), "TRUE")
sc$dfi_group <- relevel(factor(sc$dfi_group, levels = c("0-11", "12-35", ">=36")), ">=36")
sc$leiomyosarcoma <- factor(sc$leiomyosarcoma, levels = c("FALSE", "TRUE"))
scfit <- coxph(Surv(os_months, os_event) ~ complete_resection + dfi_group + leiomyosarcoma,
               data = sc)
schema <- list(irlm = cox_json(scfit, paste(
  "coxph(Surv(os_months, os_event) ~ relevel(factor(complete_resection), 'TRUE') +",
  "relevel(dfi_group, '>=36') + leiomyosarcoma)"), zph = TRUE))
write_fixture(schema, "extra_schema")
cat("wrote extra fixtures to", outdir, "\n")
