#!/usr/bin/env Rscript
# Reference values for metsurv.stats.cox on the designs of issue 9: aliased and
# non-estimable terms (dose in g and mg, age and age in months, male and female, a factor
# aliased with another, a covariate constant within every stratum, an interaction with
# aliased columns, an aliased counting-process design with strata, an unused factor level,
# a constant covariate), infinite estimates (monotone likelihood, a factor level without
# events), case weights (model-based and robust SE, strata, cluster, counting process), the
# step-halving case and the handed cases 01, 02, 14, 19; computed with R survival.
#
# Usage: Rscript tests/reference/make_cox_edge.R [outdir]
#   outdir defaults to the directory of this script. Writes <outdir>/data/cox_edge_*.csv
#   (the exact inputs Python reads) and <outdir>/cox_edge.json (the R results).
# Fuzz mode (tests/stats/test_cox_fuzz.py): Rscript make_cox_edge.R --fuzz IN.csv OUT.json
#   fits every data set of IN.csv (column ds) and writes coef, loglik, iter, converged.
# Needs survival, jsonlite and common.R beside it. Deterministic (set.seed).

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
args0 <- commandArgs(trailingOnly = TRUE)

# Fit one model, keeping R's warnings (their text) instead of printing them.
fit_quiet <- function(expr) {
  notes <- character(0)
  fit <- withCallingHandlers(expr, warning = function(w) {
    notes <<- c(notes, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  list(fit = fit, warnings = notes)
}

# ------------------------------------------------------------------ fuzz mode
if (length(args0) >= 1 && args0[1] == "--fuzz") {
  suppressPackageStartupMessages({library(survival); library(jsonlite)})
  d <- read.csv(args0[2])
  out <- lapply(split(d, d$ds), function(g) {
    cov <- paste0("x", seq_len(g$ncov[1]))
    rhs <- paste(c(cov, if (g$strat[1] == 1) "strata(s)"), collapse = " + ")
    lhs <- if (g$cp[1] == 1) "Surv(start, stop, event)" else "Surv(stop, event)"
    # w is 1 in the unweighted sets (column wtd 0): the same fit as without weights
    r <- fit_quiet(coxph(as.formula(paste(lhs, "~", rhs)), data = g, weights = w,
                         ties = c("breslow", "efron")[g$efron[1] + 1]))
    f <- r$fit
    list(ds = g$ds[1], coef = unname(coef(f)), loglik = unname(f$loglik), iter = f$iter,
         converged = !any(grepl("Ran out of iterations", r$warnings)),
         warnings = r$warnings)
  })
  write_json(unname(out), args0[3], digits = NA, auto_unbox = FALSE, na = "null")
  quit(save = "no")
}

source(file.path(script_dir, "common.R"))

# ------------------------------------------------------------------ inputs
# the handed cases (../shared/cases 01, 02, 14, 19), copied so that the tests need no shared/
case01 <- write_input(data.frame(
  time = c(1, 2, 3, 3.5, 4, 5, 6, 7, 8, 9),
  status = c(1L, 1L, 1L, 0L, 1L, 1L, 0L, 1L, 0L, 1L),
  x = c(1L, 1L, 1L, 1L, 0L, 0L, 0L, 0L, 0L, 0L),
  age = c(61L, 55L, 70L, 48L, 66L, 52L, 59L, 63L, 71L, 45L)), "cox_edge_case01")
case02 <- write_input(data.frame(
  time = 2:13, status = c(1L, 1L, 0L, 1L, 1L, 0L, 1L, 0L, 1L, 0L, 1L, 0L),
  dose_g = c(0.5, 1.5, 1, 2, 0.5, 1.5, 1, 2, 0.5, 1, 2, 1.5),
  dose_mg = c(500L, 1500L, 1000L, 2000L, 500L, 1500L, 1000L, 2000L, 500L, 1000L, 2000L,
              1500L),
  age = c(60L, 72L, 55L, 66L, 49L, 58L, 70L, 62L, 53L, 68L, 57L, 61L)), "cox_edge_case02")
case14 <- write_input(data.frame(
  time = 1:8, status = c(1L, 1L, 0L, 1L, 1L, 0L, 1L, 1L),
  arm = c("A", "B", "A", "B", "A", "B", "A", "B"), w = c(2L, 1L, 3L, 2L, 1L, 4L, 2L, 1L)),
  "cox_edge_case14")
case19 <- write_input(data.frame(
  time = c(923.6, 0.9, 21.8, 1517.4, 163.9, 0.6, 0.3, 46.4, 91.4, 45.3, 18.1, 60.4, 3.7,
           3.9, 0.4, 4.8, 3.5, 50.5, 3.8, 128.2, 41.1, 32.2, 0.4, 66.6, 171.6, 25.7, 1670.1,
           0.1, 2),
  status = c(0L, 0L, 1L, 1L, 1L, 1L, 1L, 1L, 1L, 1L, 1L, 1L, 1L, 1L, 1L, 1L, 1L, 1L, 1L,
             1L, 1L, 1L, 1L, 1L, 0L, 1L, 1L, 1L, 1L),
  x = c(11.15, 0.333, 24.628, 0.116, 1.286, 18.413, 684.171, 0.005, 0.234, 0.031, 0.574,
        0.232, 10.464, 0.156, 2.786, 12.682, 0.446, 18.401, 1.033, 0.188, 0.393, 0.087,
        14.629, 0.275, 0.034, 0.074, 1.315, 0.095, 3.472),
  z = c(-323.57, 108.94, -98.29, -180.96, -124.16, 74.63, 22.72, 39.1, -102.99, 44.31,
        -71.38, 3.32, -7.26, 82.91, 197.3, 57.46, 105.07, -106.09, -6.97, -151.43, -39.76,
        52.01, -18.96, -39.74, -51.85, 11.52, -273.64, 100.58, 46.32)), "cox_edge_case19")

# a small registry: whole-month times (ties), three centres, aliased columns of every kind
set.seed(20261130)
n <- 150
center <- sample(c("c1", "c2", "c3"), n, replace = TRUE)
hist <- sample(c("epi", "mel", "sar"), n, replace = TRUE, prob = c(.45, .2, .35))
age <- round(rnorm(n, 60, 10))
dose_g <- sample(c(0.5, 1, 1.5, 2), n, replace = TRUE)
male <- rbinom(n, 1, 0.55)
g3 <- sample(c("a", "b", "c"), n, replace = TRUE)
z <- ifelse(g3 == "c", 0, round(rnorm(n), 2))  # g3 == c has z 0: g3c:z is all 0
rare <- sample(c("common", "other", "rare"), n, replace = TRUE, prob = c(.55, .35, .10))
lp <- 0.03 * (age - 60) + 0.5 * (hist == "mel") - 0.3 * dose_g + 0.4 * male + 0.3 * z
tt <- ceiling(rexp(n, 0.04 * exp(lp)))
cc <- sample(6:60, n, replace = TRUE)
status <- as.integer(tt <= cc)
status[rare == "rare"] <- 0L  # the rare level has no events: its coefficient is -Inf
edge <- write_input(data.frame(
  time = pmin(tt, cc), status = status, age = age, age_months = age * 12,
  dose_g = dose_g, dose_mg = dose_g * 1000, male = male, female = 1 - male,
  hist = hist, hist2 = c(epi = "E", mel = "M", sar = "S")[hist],
  center = center, center_beds = c(c1 = 300, c2 = 850, c3 = 1200)[center],
  g3 = g3, z = z, rare = rare, const = 7,
  stage = sample(c("I", "III", "IV"), n, replace = TRUE),  # R levels I, II, III, IV
  w = round(runif(n, 0.2, 3), 2), id = rep(1:75, each = 2)), "cox_edge_registry")
edge$stage <- factor(edge$stage, levels = c("I", "II", "III", "IV"))  # II unused

# counting process: each patient split at a random time, a time-dependent exposure
cp_rows <- suppressWarnings(do.call(rbind, lapply(seq_len(n), function(i) {
  t1 <- edge$time[i]
  cut <- if (t1 > 2) sample(seq_len(t1 - 1), 1) else NA
  base <- edge[i, c("age", "age_months", "center", "center_beds", "male", "w")]
  if (is.na(cut)) {
    return(data.frame(pid = i, start = 0, stop = t1, status = edge$status[i], tdc = 0, base))
  }
  data.frame(pid = i, start = c(0, cut), stop = c(cut, t1),
             status = c(0L, edge$status[i]), tdc = c(0, 1), base, row.names = NULL)
})))
cp <- write_input(cp_rows, "cox_edge_cp")

# one event whose risk set has x1 constant (fuzz set k158 of an outside tester): the
# likelihood does not depend on x1, R gives it NA; x2 runs off to infinity, so the other
# diagonal of the information shrinks towards 0 and a roundoff pivot for x1 must not pass
# the relative Cholesky tolerance
onerisk <- write_input(data.frame(
  time = c(5, 4, 5, 4), status = c(1L, 0L, 0L, 0L), x1 = c(0, 1, 0, 1),
  x2 = c(135.06, -50.37, 110.808, 171.632), entry = c(4, 3, 0, 0),
  w = c(0.43, 1.13, 2.6, 1.11)), "cox_edge_onerisk")

# ------------------------------------------------------------------ cases
# Each case: R formula and options, and how Python names the same model (python).
case <- function(name, data, formula, python, ties = "efron", weights = NULL,
                 robust = FALSE, zph = TRUE, levels = NULL) {
  list(name = name, data = data, formula = formula, ties = ties, weights = weights,
       robust = robust, zph = zph, python = c(python, list(ties = ties, weights = weights,
       robust = robust, levels = levels)))
}
py <- function(dataset, covariates, strata = NULL, start = NULL, cluster = NULL,
               time = "time", event = "status") {
  list(dataset = dataset, covariates = covariates, strata = strata, start = start,
       cluster = cluster, time = time, event = event)
}
datasets <- list(cox_edge_case01 = case01, cox_edge_case02 = case02,
                 cox_edge_case14 = case14, cox_edge_case19 = case19,
                 cox_edge_registry = edge, cox_edge_cp = cp,
                 cox_edge_onerisk = onerisk)
cases <- list(
  case("case01_monotone", "cox_edge_case01", Surv(time, status) ~ x,
       py("cox_edge_case01", "x")),
  case("case01_monotone_age", "cox_edge_case01", Surv(time, status) ~ x + age,
       py("cox_edge_case01", c("x", "age"))),
  case("case02_collinear", "cox_edge_case02", Surv(time, status) ~ dose_g + dose_mg + age,
       py("cox_edge_case02", c("dose_g", "dose_mg", "age"))),
  case("case02_collinear_breslow", "cox_edge_case02",
       Surv(time, status) ~ dose_g + dose_mg + age, py("cox_edge_case02",
       c("dose_g", "dose_mg", "age")), ties = "breslow"),
  case("case14_weights", "cox_edge_case14", Surv(time, status) ~ arm,
       py("cox_edge_case14", "arm"), weights = "w"),
  case("case14_weights_robust", "cox_edge_case14", Surv(time, status) ~ arm,
       py("cox_edge_case14", "arm"), weights = "w", robust = TRUE),
  case("case19_step_halving", "cox_edge_case19", Surv(time, status) ~ x + z,
       py("cox_edge_case19", c("x", "z"))),
  case("dose_g_mg", "cox_edge_registry", Surv(time, status) ~ dose_g + dose_mg + age,
       py("cox_edge_registry", c("dose_g", "dose_mg", "age"))),
  case("age_months", "cox_edge_registry", Surv(time, status) ~ age + age_months + male,
       py("cox_edge_registry", c("age", "age_months", "male"))),
  case("male_female_breslow", "cox_edge_registry", Surv(time, status) ~ male + female + age,
       py("cox_edge_registry", c("male", "female", "age")), ties = "breslow"),
  case("factor_aliased_factor", "cox_edge_registry", Surv(time, status) ~ hist + hist2 + age,
       py("cox_edge_registry", c("hist", "hist2", "age"))),
  case("constant_within_strata", "cox_edge_registry",
       Surv(time, status) ~ center_beds + age + strata(center),
       py("cox_edge_registry", c("center_beds", "age"), strata = "center")),
  case("constant_within_strata_breslow", "cox_edge_registry",
       Surv(time, status) ~ hist + center_beds + male + strata(center),
       py("cox_edge_registry", c("hist", "center_beds", "male"), strata = "center"),
       ties = "breslow"),
  case("constant_covariate", "cox_edge_registry", Surv(time, status) ~ age + const,
       py("cox_edge_registry", c("age", "const"))),
  case("interaction_aliased", "cox_edge_registry", Surv(time, status) ~ g3 * z + male,
       py("cox_edge_registry", c("g3", "z", "male", "g3:z"))),
  case("interaction_dup", "cox_edge_registry", Surv(time, status) ~ male * female + age,
       py("cox_edge_registry", c("male", "female", "age", "male:female"))),
  # a factor whose margin is absent gets one column per level (R model.matrix TermCode)
  case("interaction_no_main_numeric_factor", "cox_edge_registry", Surv(time, status) ~ z:hist,
       py("cox_edge_registry", "z:hist")),
  case("interaction_no_main_factors", "cox_edge_registry", Surv(time, status) ~ hist:g3,
       py("cox_edge_registry", "hist:g3")),
  case("interaction_one_margin", "cox_edge_registry", Surv(time, status) ~ g3 + g3:hist + age,
       py("cox_edge_registry", c("g3", "age", "g3:hist"))),
  case("unused_level", "cox_edge_registry", Surv(time, status) ~ stage + age,
       py("cox_edge_registry", c("stage", "age")), levels = list(stage = c("I", "II", "III", "IV"))),
  case("level_without_events", "cox_edge_registry", Surv(time, status) ~ rare + age,
       py("cox_edge_registry", c("rare", "age"))),
  case("level_without_events_breslow_strata", "cox_edge_registry",
       Surv(time, status) ~ rare + hist + strata(center),
       py("cox_edge_registry", c("rare", "hist"), strata = "center"), ties = "breslow"),
  case("cp_aliased_strata", "cox_edge_cp",
       Surv(start, stop, status) ~ tdc + age + age_months + center_beds + male + strata(center),
       py("cox_edge_cp", c("tdc", "age", "age_months", "center_beds", "male"),
          strata = "center", start = "start", time = "stop")),
  case("cp_aliased_strata_breslow", "cox_edge_cp",
       Surv(start, stop, status) ~ tdc + age + age_months + center_beds + strata(center),
       py("cox_edge_cp", c("tdc", "age", "age_months", "center_beds"),
          strata = "center", start = "start", time = "stop"), ties = "breslow"),
  case("weights_factor", "cox_edge_registry", Surv(time, status) ~ hist + age + male,
       py("cox_edge_registry", c("hist", "age", "male")), weights = "w"),
  case("weights_robust_strata_breslow", "cox_edge_registry",
       Surv(time, status) ~ hist + dose_g + strata(center),
       py("cox_edge_registry", c("hist", "dose_g"), strata = "center"), weights = "w",
       robust = TRUE, ties = "breslow"),
  case("weights_cluster_aliased", "cox_edge_registry",
       Surv(time, status) ~ age + age_months + male + cluster(id),
       py("cox_edge_registry", c("age", "age_months", "male"), cluster = "id"),
       weights = "w"),
  case("weights_cp_cluster", "cox_edge_cp",
       Surv(start, stop, status) ~ tdc + age + male + cluster(pid),
       py("cox_edge_cp", c("tdc", "age", "male"), start = "start", time = "stop",
          cluster = "pid"), weights = "w"),
  case("onerisk_flat_weights", "cox_edge_onerisk", Surv(time, status) ~ x1 + x2,
       py("cox_edge_onerisk", c("x1", "x2")), weights = "w", zph = FALSE),
  case("onerisk_flat_weights_breslow", "cox_edge_onerisk", Surv(time, status) ~ x1 + x2,
       py("cox_edge_onerisk", c("x1", "x2")), weights = "w", ties = "breslow", zph = FALSE),
  case("onerisk_flat_weights_cp", "cox_edge_onerisk", Surv(entry, time, status) ~ x1 + x2,
       py("cox_edge_onerisk", c("x1", "x2"), start = "entry"), weights = "w", zph = FALSE),
  case("onerisk_flat_unweighted", "cox_edge_onerisk", Surv(time, status) ~ x2 + x1,
       py("cox_edge_onerisk", c("x2", "x1")), zph = FALSE)
)

# ------------------------------------------------------------------ R results
result <- function(cs) {
  d <- datasets[[cs$data]]
  if (!is.null(cs$python$levels)) for (v in names(cs$python$levels))
    d[[v]] <- factor(d[[v]], levels = cs$python$levels[[v]])
  d$.w <- if (is.null(cs$weights)) rep(1, nrow(d)) else as.double(d[[cs$weights]])
  # weights of 1 when unweighted: the same fit as without weights (R sets fit$weights
  # only when one differs from 1)
  # robust = NULL, not FALSE: R 3.5 ignores cluster() when robust = FALSE is given
  r <- fit_quiet(coxph(cs$formula, data = d, ties = cs$ties,
                       robust = if (cs$robust) TRUE else NULL, weights = .w,
                       x = TRUE, y = TRUE, model = TRUE))
  f <- r$fit
  cf <- coef(f)
  ok <- !is.na(cf)
  naive <- if (is.null(f$naive.var)) f$var else f$naive.var
  se <- ifelse(ok, sqrt(pmax(diag(naive), 0)), NA)
  robust <- !is.null(f$naive.var)
  rse <- if (robust) ifelse(ok, sqrt(pmax(diag(f$var), 0)), NA) else NULL
  use <- if (robust) rse else se
  q <- qnorm(0.975)
  s <- summary(f)
  out <- list(name = cs$name, python = cs$python, r_formula = deparse(cs$formula),
              terms = names(cf), coef = unname(cf), se = unname(se),
              robust_se = unname(rse),
              lower = unname(exp(cf - q * use)), upper = unname(exp(cf + q * use)),
              p = unname(2 * pnorm(-abs(cf / use))),
              loglik = f$loglik, iter = f$iter, n = f$n, events = f$nevent,
              lrt = unname(s$logtest[1:2]), score = unname(s$sctest[1:2]),
              wald = unname(c(f$wald.test, s$waldtest[2])),
              rscore = if (robust) unname(f$rscore) else NULL,
              concordance = unname(f$concordance["concordance"]),
              concordance_se = unname(f$concordance["std"]),
              converged = !any(grepl("Ran out of iterations", r$warnings)),
              warnings = r$warnings)
  if (cs$zph) {
    z <- tryCatch(cox.zph(f)$table, error = function(e) {
      message(cs$name, ": cox.zph: ", conditionMessage(e)); NULL})
    if (!is.null(z)) out$zph <- list(terms = rownames(z), chisq = unname(z[, "chisq"]),
                                     df = unname(z[, "df"]), p = unname(z[, "p"]))
  }
  out
}

# infinite limits as the strings "Inf"/"-Inf" (json_safe's spelling), NA as null
inf_str <- function(x) {
  if (is.list(x)) return(lapply(x, inf_str))
  if (is.numeric(x) && any(is.infinite(x)))
    return(lapply(x, function(v) if (is.infinite(v)) (if (v > 0) "Inf" else "-Inf") else v))
  x
}
out <- list(survival_version = as.character(packageVersion("survival")),
            cases = lapply(cases, function(cs) inf_str(result(cs))))
write_json(out, file.path(outdir, "cox_edge.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, na = "null", null = "null")
