#!/usr/bin/env Rscript
# Reference values for metsurv.stats, computed with R survival (>= 3.0).
#
# Usage: Rscript tests/reference/make_reference.R [outdir]
#   outdir defaults to the directory of this script. Writes <outdir>/data/*.csv (the exact
#   inputs Python reads) and <outdir>/<dataset>.json (the R results, full precision).
# Needs survival, jsonlite and common.R beside it. Deterministic (set.seed).

# the directory of this script (also when run from elsewhere): common.R lies beside it
script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
source(file.path(script_dir, "common.R"))

# ---------------------------------------------------------------- datasets
datasets <- list()

lung2 <- with(survival::lung, data.frame(
  time = time, event = as.integer(status == 2), sex = sex, age = age,
  ph_ecog = ph.ecog, ph_karno = ph.karno, wt_loss = wt.loss, inst = inst))
lung2$sex_f <- ifelse(lung2$sex == 1, "male", "female")
datasets$lung <- lung2

vet <- survival::veteran
datasets$veteran <- data.frame(
  time = vet$time, event = vet$status, trt = vet$trt,
  celltype = as.character(vet$celltype), karno = vet$karno,
  diagtime = vet$diagtime, age = vet$age, prior = vet$prior)

# heavy integer ties: 400 patients, follow-up in whole months 1..15
set.seed(20240607)
n <- 400
grp <- sample(c("a", "b", "c"), n, replace = TRUE, prob = c(.4, .35, .25))
x1 <- round(rnorm(n), 3)
x2 <- rbinom(n, 1, .4)
lp <- 0.5 * (grp == "b") + 0.9 * (grp == "c") + 0.4 * x1 - 0.3 * x2
tt <- ceiling(rexp(n, 0.08 * exp(lp)))
cc <- sample(3:18, n, replace = TRUE)
datasets$ties <- data.frame(time = pmin(tt, cc), event = as.integer(tt <= cc),
                            grp = grp, x1 = x1, x2 = x2,
                            site = sample(c("s1", "s2"), n, replace = TRUE))

# near-tied times: months computed two ways from whole days (days / 30.4375 and the sum
# of two partial intervals), which differ in the last bits; aeqSurv must merge them.
set.seed(4711)
n <- 300
days <- sample(20:1500, n, replace = TRUE)
split <- sapply(days, function(d) sample.int(d - 1, 1))
way2 <- runif(n) < 0.5
months <- ifelse(way2, split / 30.4375 + (days - split) / 30.4375, days / 30.4375)
grp <- sample(c("x", "y"), n, replace = TRUE)
z <- round(rnorm(n), 2)
ev <- rbinom(n, 1, plogis(-0.2 + 0.6 * (grp == "y") + 0.5 * z))
datasets$neartie <- data.frame(time = months, event = ev, grp = grp, z = z)
stopifnot(length(unique(months)) > length(unique(days)))  # the near ties exist

# a group with no events, a single-patient group, and a flat-at-0.5 curve
datasets$noevent <- data.frame(
  time  = c(1:10, 2, 4, 6, 8, 9, 3, 7, 5, 5, 11, 12, 3.5),
  event = c(rep(1L, 10), 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 1, 0),
  grp   = c(rep("flat", 10), rep("none", 5), rep("mixed", 6), "single"))

# from here on the data as Python reads them (17 significant digits in the CSV)
for (nm in names(datasets)) datasets[[nm]] <- write_input(datasets[[nm]], nm)

# ---------------------------------------------------------------- helpers
strip_strata <- function(s, n) {
  if (is.null(s)) return(rep("all", n))
  sub("^[^=]*=", "", as.character(s))
}

km_ref <- function(d, by, conf.type, times, conf.int = 0.95) {
  f <- if (is.null(by)) Surv(time, event) ~ 1 else
    as.formula(paste("Surv(time, event) ~", by))
  fit <- survfit(f, data = d, conf.type = conf.type, conf.int = conf.int)
  s <- summary(fit, censored = TRUE)
  tab <- data.frame(group = strip_strata(s$strata, length(s$time)), time = s$time,
                    n_risk = s$n.risk, n_event = s$n.event, n_censor = s$n.censor,
                    estimate = s$surv, std_err = s$std.err,
                    lower = s$lower, upper = s$upper)
  st <- summary(fit)$table
  if (is.null(dim(st))) st <- t(as.matrix(st))
  med <- data.frame(group = if (is.null(by)) "all" else sub("^[^=]*=", "", rownames(st)),
                    n = st[, "records"], events = st[, "events"], median = st[, "median"],
                    lower = st[, paste0(conf.int, "LCL")], upper = st[, paste0(conf.int, "UCL")])
  at <- summary(fit, times = times, extend = TRUE)
  att <- data.frame(group = strip_strata(at$strata, length(at$time)), time = at$time,
                    n_risk = at$n.risk, estimate = at$surv, std_err = at$std.err,
                    lower = at$lower, upper = at$upper)
  list(call = sprintf("survfit(%s, data, conf.type = '%s', conf.int = %s)", deparse(f),
                      conf.type, conf.int),
       by = by, times = times, conf_type = conf.type, conf_level = conf.int, table = tab, median = med, at_times = att)
}

survdiff_ref <- function(d, by, rho = 0, strata = NULL, scores = NULL) {
  rhs <- if (is.null(strata)) by else paste0(by, " + strata(", strata, ")")
  f <- as.formula(paste("Surv(time, event) ~", rhs))
  sd <- survdiff(f, data = d, rho = rho)
  obs <- if (is.matrix(sd$obs)) rowSums(sd$obs) else sd$obs
  ex <- if (is.matrix(sd$exp)) rowSums(sd$exp) else sd$exp
  k <- length(obs)
  out <- list(call = sprintf("survdiff(%s, data, rho = %s)", deparse(f), rho),
              by = by, strata = strata, rho = rho,
              groups = sub("^[^=]*=", "", names(sd$n)), n = as.vector(sd$n),
              observed = as.vector(obs), expected = as.vector(ex),
              var = unname(sd$var), chisq = sd$chisq, df = k - 1,
              p = pchisq(sd$chisq, k - 1, lower.tail = FALSE))
  # test for trend (Collett 2015, section 2.7; Klein & Moeschberger 7.4):
  #   chisq = (s'(O - E))^2 / (s' V s), 1 df, from survdiff's O, E and V
  s <- if (is.null(scores)) seq_len(k) else scores
  out$trend_scores <- s
  out$trend_chisq <- sum(s * (obs - ex))^2 / drop(t(s) %*% sd$var %*% s)
  out$trend_p <- pchisq(out$trend_chisq, 1, lower.tail = FALSE)
  out
}

metsurv_names <- function(fit) {
  nm <- names(coef(fit))
  out <- nm
  for (v in names(fit$xlevels)) {
    for (lev in fit$xlevels[[v]]) {
      hit <- nm == paste0(v, lev)
      out[hit] <- paste0(v, "[", lev, "]")
    }
  }
  out
}

cox_ref <- function(name, d, rhs, ties = "efron", robust = FALSE, py = list()) {
  f <- as.formula(paste("Surv(time, event) ~", rhs))
  fit <- coxph(f, data = d, ties = ties, robust = robust)
  sm <- summary(fit)
  zph <- cox.zph(fit, transform = "km")
  out <- list(
    name = name,
    call = sprintf("coxph(%s, data, ties = '%s', robust = %s)", deparse(f), ties, robust),
    zph_call = "cox.zph(fit, transform = 'km')",
    python = py,
    terms = metsurv_names(fit), r_terms = names(coef(fit)),
    coef = unname(coef(fit)),
    se = unname(sqrt(diag(if (is.null(fit$naive.var)) fit$var else fit$naive.var))),
    robust_se = if (is.null(fit$naive.var)) NULL else unname(sqrt(diag(fit$var))),
    p = unname(sm$coefficients[, ncol(sm$coefficients)]),
    lower = unname(sm$conf.int[, "lower .95"]), upper = unname(sm$conf.int[, "upper .95"]),
    n = fit$n, events = fit$nevent, loglik = fit$loglik,
    lrt = unname(sm$logtest), score = unname(sm$sctest),
    # summary.coxph rounds the Wald statistic; take it from the fit (robust var if robust)
    wald = c(fit$wald.test, length(coef(fit)),
             pchisq(fit$wald.test, length(coef(fit)), lower.tail = FALSE)),
    robust_score = if (is.null(sm$robscore)) NULL else unname(sm$robscore),
    iter = fit$iter,
    # fit$concordance is what summary(fit) prints: concordancefit() on the linear
    # predictor, within strata, reverse = TRUE, clustered when cluster() is given
    concordance = unname(fit$concordance["concordance"]),
    concordance_se = unname(fit$concordance["std"]),
    concordance_count = as.list(fit$concordance[1:5]),
    zph = list(terms = rownames(zph$table), chisq = unname(zph$table[, "chisq"]),
               df = unname(zph$table[, "df"]), p = unname(zph$table[, "p"])),
    zph_resid = list(x = unname(zph$x), time = unname(zph$time), y = unname(zph$y)),
    zph_other = lapply(c(rank = "rank", identity = "identity", log = "log"), function(tr) {
      z <- cox.zph(fit, transform = tr)
      list(chisq = unname(z$table[, "chisq"]), p = unname(z$table[, "p"]))
    }))
  if (!is.null(fit$naive.var)) out$vcov_robust <- unname(fit$var)
  out$vcov <- unname(if (is.null(fit$naive.var)) fit$var else fit$naive.var)
  out
}

py <- function(covariates, strata = NULL, cluster = NULL, reference = NULL, robust = FALSE,
               ties = "efron")
  list(covariates = covariates, strata = strata, cluster = cluster,
       reference = reference, robust = robust, ties = ties)

write_ref <- function(nm, obj) {
  obj$r_version <- R.version.string
  obj$survival_version <- as.character(packageVersion("survival"))
  write_json(obj, file.path(outdir, paste0(nm, ".json")), digits = NA, auto_unbox = TRUE,
             na = "null", null = "null", pretty = FALSE)
}

conf_types <- c("log", "log-log", "plain")

# ---------------------------------------------------------------- lung
d <- datasets$lung
ref <- list(dataset = "lung", km = list(), survdiff = list(), cox = list())
for (ct in conf_types) {
  ref$km[[length(ref$km) + 1]] <- km_ref(d, NULL, ct, c(90, 180, 365, 730, 1000))
  ref$km[[length(ref$km) + 1]] <- km_ref(d, "sex", ct, c(90, 180, 365, 730, 1000))
  ref$km[[length(ref$km) + 1]] <- km_ref(d, "ph_ecog", ct, c(90, 365, 730))
}
for (ct in conf_types)
  ref$km[[length(ref$km) + 1]] <- km_ref(d, "sex", ct, c(180, 365), conf.int = 0.9)
ref$survdiff <- list(survdiff_ref(d, "sex"), survdiff_ref(d, "sex", rho = 1),
                     survdiff_ref(d, "ph_ecog"), survdiff_ref(d, "ph_ecog", rho = 1),
                     survdiff_ref(d, "sex", strata = "ph_ecog"),
                     survdiff_ref(d, "sex", rho = 1, strata = "ph_ecog"))
ref$cox <- list(
  cox_ref("age_sex_ecog_efron", d, "age + sex + ph_ecog", "efron", FALSE,
          py(c("age", "sex", "ph_ecog"))),
  cox_ref("age_sex_ecog_breslow", d, "age + sex + ph_ecog", "breslow", FALSE,
          py(c("age", "sex", "ph_ecog"), ties = "breslow")),
  cox_ref("age_sex_robust", d, "age + sex", "efron", TRUE,
          py(c("age", "sex"), robust = TRUE)),
  cox_ref("age_sex_cluster_inst", d, "age + sex + cluster(inst)", "efron", TRUE,
          py(c("age", "sex"), cluster = "inst", robust = TRUE)),
  cox_ref("sexf_karno_wtloss", d, "sex_f + ph_karno + wt_loss", "efron", FALSE,
          py(c("sex_f", "ph_karno", "wt_loss"))),
  cox_ref("age_strata_sex", d, "age + ph_karno + strata(sex)", "efron", FALSE,
          py(c("age", "ph_karno"), strata = "sex")),
  cox_ref("age_strata_sex_breslow", d, "age + ph_karno + strata(sex)", "breslow", FALSE,
          py(c("age", "ph_karno"), strata = "sex", ties = "breslow")),
  # few distinct rows (sex x ECOG: 8): cox.zph of a large factor design sums by them
  # (tests/stats/test_cox_large.py forces that path onto this small case)
  cox_ref("sex_ecog_few_rows", d, "sex + ph_ecog", "efron", FALSE,
          py(c("sex", "ph_ecog"))))
write_ref("lung", ref)

# ---------------------------------------------------------------- veteran
d <- datasets$veteran
d$celltype <- factor(d$celltype, levels = c("squamous", "smallcell", "adeno", "large"))
ref <- list(dataset = "veteran", km = list(), survdiff = list(), cox = list())
for (ct in conf_types) {
  ref$km[[length(ref$km) + 1]] <- km_ref(d, "celltype", ct, c(30, 90, 180, 365))
  ref$km[[length(ref$km) + 1]] <- km_ref(d, "trt", ct, c(30, 90, 180, 365))
}
ref$survdiff <- list(survdiff_ref(d, "celltype"), survdiff_ref(d, "celltype", rho = 1),
                     survdiff_ref(d, "trt", strata = "celltype"),
                     survdiff_ref(d, "celltype", scores = c(1, 2, 4, 8)))
ref$cox <- list(
  cox_ref("trt_celltype_karno", d, "trt + celltype + karno + age", "efron", FALSE,
          py(c("trt", "celltype", "karno", "age"), reference = list(celltype = "squamous"))),
  cox_ref("trt_celltype_karno_breslow", d, "trt + celltype + karno", "breslow", TRUE,
          py(c("trt", "celltype", "karno"), reference = list(celltype = "squamous"),
             robust = TRUE, ties = "breslow")),
  cox_ref("karno_strata_celltype", d, "trt + karno + diagtime + strata(celltype)", "efron",
          TRUE, py(c("trt", "karno", "diagtime"), strata = "celltype", robust = TRUE)))
write_ref("veteran", ref)

# ---------------------------------------------------------------- ties
d <- datasets$ties
ref <- list(dataset = "ties", km = list(), survdiff = list(), cox = list())
for (ct in conf_types)
  ref$km[[length(ref$km) + 1]] <- km_ref(d, "grp", ct, c(2, 5, 10, 14, 20))
ref$survdiff <- list(survdiff_ref(d, "grp"), survdiff_ref(d, "grp", rho = 1),
                     survdiff_ref(d, "grp", strata = "site"),
                     survdiff_ref(d, "grp", rho = 1, strata = "site"))
ref$cox <- list(
  cox_ref("grp_x_efron", d, "grp + x1 + x2", "efron", TRUE,
          py(c("grp", "x1", "x2"), robust = TRUE)),
  cox_ref("grp_x_breslow", d, "grp + x1 + x2", "breslow", TRUE,
          py(c("grp", "x1", "x2"), robust = TRUE, ties = "breslow")),
  cox_ref("x_strata_site", d, "grp + x1 + x2 + strata(site)", "efron", TRUE,
          py(c("grp", "x1", "x2"), strata = "site", robust = TRUE)),
  cox_ref("x_cluster_site", d, "x1 + x2 + cluster(site)", "efron", TRUE,
          py(c("x1", "x2"), cluster = "site", robust = TRUE)))
write_ref("ties", ref)

# ---------------------------------------------------------------- near ties
d <- datasets$neartie
ref <- list(dataset = "neartie", km = list(), survdiff = list(), cox = list())
for (ct in conf_types)
  ref$km[[length(ref$km) + 1]] <- km_ref(d, "grp", ct, c(6, 12, 24, 36))
ref$survdiff <- list(survdiff_ref(d, "grp"), survdiff_ref(d, "grp", rho = 1))
ref$cox <- list(cox_ref("grp_z", d, "grp + z", "efron", TRUE, py(c("grp", "z"), robust = TRUE)),
                cox_ref("grp_z_breslow", d, "grp + z", "breslow", FALSE,
                        py(c("grp", "z"), ties = "breslow")))
ref$aeq <- list(n_unique_raw = length(unique(d$time)),
                n_unique_aeq = length(unique(aeqSurv(Surv(d$time, d$event))[, 1])),
                time_aeq = unname(aeqSurv(Surv(d$time, d$event))[, 1]))
write_ref("neartie", ref)

# ---------------------------------------------------------------- no events / flat / single
d <- datasets$noevent
ref <- list(dataset = "noevent", km = list(), survdiff = list(), cox = list())
for (ct in conf_types)
  ref$km[[length(ref$km) + 1]] <- km_ref(d, "grp", ct, c(1, 5, 10, 20))
ref$survdiff <- list(survdiff_ref(d, "grp"), survdiff_ref(d, "grp", rho = 1))
write_ref("noevent", ref)

cat("reference written to", normalizePath(outdir), "\n")
