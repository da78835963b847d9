#!/usr/bin/env Rscript
# Reference values for metsurv.stats km, rmst, logrank and competing risks on the designs of
# issue 9: delayed entry (left truncation), case weights (whole and fractional), both
# together, an infinite censoring time, log-rank with groups without expected events, and a
# singular Gray test; computed with R survival and cmprsk.
#
# Usage: Rscript tests/reference/make_km_edge.R [outdir]
#   outdir defaults to the directory of this script. Writes <outdir>/data/km_edge_*.csv (the
#   exact inputs Python reads) and <outdir>/km_edge.json (the R results, full precision).
# Needs survival, cmprsk, jsonlite and common.R beside it. Deterministic (set.seed).

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
source(file.path(script_dir, "common.R"))
suppressPackageStartupMessages(library(cmprsk))

# ------------------------------------------------------------------ inputs
# the handed cases (../shared/cases 09, 14, 18), copied so that the tests need no shared/
delayed <- write_input(data.frame(
  id = 1:12, entry = c(0, 2, 5, 0, 3, 1, 4, 0, 5, 7, 0, 6),
  exit = c(5, 7, 9, 3, 8, 4, 10, 6, 11, 12, 2, 9),
  status = c(1L, 1L, 1L, 1L, 1L, 0L, 1L, 0L, 1L, 0L, 1L, 1L),
  x = c(1L, 0L, 1L, 0L, 1L, 0L, 1L, 0L, 0L, 1L, 1L, 0L)), "km_edge_delayed")
weighted <- write_input(data.frame(
  time = as.double(1:8), status = c(1L, 1L, 0L, 1L, 1L, 0L, 1L, 1L),
  arm = c("A", "B", "A", "B", "A", "B", "A", "B"), w = c(2, 1, 3, 2, 1, 4, 2, 1),
  w_frac = 1.5 * c(2, 1, 3, 2, 1, 4, 2, 1)), "km_edge_weights")
# case 18: three rows with a missing time or status, one censoring at Inf
inf_case <- data.frame(time = c(1, 2, NA, 3, NA, 4, 5, 6, Inf),
                       status = c(1L, NA, 1L, 0L, 0L, 1L, 1L, 0L, 0L),
                       arm = c("A", "A", "B", "B", "A", "B", "A", "B", "A"))
write.csv(inf_case, file.path(outdir, "data", "km_edge_inf.csv"), row.names = FALSE,
          na = "", quote = FALSE)
inf_case <- read.csv(file.path(outdir, "data", "km_edge_inf.csv"))

# a registry: 240 patients, 40% enter after the operation, times in half months (ties),
# three groups, two strata, whole weights 1-3 and fractional weights (some 0), a first
# event 0 censored / 1 recurrence / 2 death without recurrence
set.seed(20260901)
n <- 240
g <- sample(c("a", "b", "c"), n, replace = TRUE, prob = c(.4, .35, .25))
stratum <- sample(c("s1", "s2"), n, replace = TRUE)
entry <- ifelse(runif(n) < 0.4, round(runif(n, 0, 24) * 2) / 2, 0)
t_event <- rexp(n, c(a = 0.02, b = 0.035, c = 0.05)[g])
t_cens <- runif(n, 6, 96)
stop_t <- pmax(entry + 0.5, ceiling(pmin(entry + t_event, entry + t_cens) * 2) / 2)
status <- as.integer(entry + t_event <= entry + t_cens)
cause <- ifelse(status == 1, ifelse(runif(n) < 0.6, 1L, 2L), 0L)
w_int <- sample(1:3, n, replace = TRUE)
w_frac <- round(runif(n, 0, 3), 3)
w_frac[sample(n, 8)] <- 0
sim <- write_input(data.frame(entry = entry, time = stop_t, status = status, cause = cause,
                              g = g, stratum = stratum, w_int = as.double(w_int),
                              w_frac = w_frac), "km_edge_sim")

# ------------------------------------------------------------------ Kaplan-Meier
strata_names <- function(s, n) if (is.null(s)) rep("all", n) else sub("^[^=]*=", "", as.character(s))

km_case <- function(name, d, by = NULL, start = NULL, weights = NULL, conf.type = "log-log",
                    times = NULL, tau = NULL) {
  lhs <- if (is.null(start)) "Surv(time, status)" else sprintf("Surv(%s, time, status)", start)
  f <- as.formula(paste(lhs, "~", if (is.null(by)) "1" else by))
  fit <- if (is.null(weights)) survfit(f, data = d, conf.type = conf.type) else
    survfit(f, data = d, conf.type = conf.type, weights = d[[weights]])
  s <- summary(fit, censored = TRUE)
  tab <- summary(fit, rmean = if (is.null(tau)) "none" else tau)$table
  if (is.null(dim(tab))) tab <- t(as.matrix(tab))
  out <- list(
    name = name,
    call = sprintf("survfit(%s, data, conf.type = '%s'%s)", deparse(f), conf.type,
                   if (is.null(weights)) "" else sprintf(", weights = %s", weights)),
    by = by, start = start, weights = weights, conf_type = conf.type,
    table = list(group = strata_names(s$strata, length(s$time)), time = s$time,
                 n_risk = s$n.risk, n_event = s$n.event, n_censor = s$n.censor,
                 estimate = s$surv, std_err = s$std.err, lower = s$lower, upper = s$upper),
    median = list(group = if (is.null(rownames(tab))) "all" else sub("^[^=]*=", "", rownames(tab)),
                  n = unname(tab[, "records"]), events = unname(tab[, "events"]),
                  median = unname(tab[, "median"]), lower = unname(tab[, grep("LCL", colnames(tab))]),
                  upper = unname(tab[, grep("UCL", colnames(tab))])))
  if (!is.null(tau)) out$rmean <- list(tau = tau, rmean = unname(tab[, "rmean"]),
                                       se = unname(tab[, "se(rmean)"]))
  if (!is.null(times)) {
    a <- summary(fit, times = times, extend = TRUE)
    out$at_times <- list(times = times, group = strata_names(a$strata, length(a$time)),
                         time = a$time, n_risk = a$n.risk, estimate = a$surv,
                         std_err = a$std.err, lower = a$lower, upper = a$upper)
  }
  out
}

names(delayed)[names(delayed) == "exit"] <- "time"
at9 <- c(0, 1, 2, 4.5, 5, 6.5, 9, 12, 13)
at_sim <- c(0, 3, 12, 24.25, 36, 60, 200)
km <- list(
  km_case("delayed", delayed, start = "entry", conf.type = "log", times = at9, tau = 9),
  km_case("delayed_by_x", delayed, by = "x", start = "entry", times = at9, tau = 9),
  km_case("delayed_ignored", delayed, conf.type = "log", times = at9),
  km_case("weights_whole", weighted, by = "arm", weights = "w", conf.type = "log",
          times = c(2, 5, 9), tau = 6),
  km_case("weights_fractional", weighted, by = "arm", weights = "w_frac", conf.type = "log",
          times = c(2, 5, 9), tau = 6),
  km_case("weights_fractional_plain", weighted, weights = "w_frac", conf.type = "plain",
          tau = 6),
  km_case("inf_censoring", inf_case, by = "arm", conf.type = "log", times = c(5, 100), tau = 10),
  km_case("sim_start", sim, start = "entry", times = at_sim, tau = 36),
  km_case("sim_start_by", sim, by = "g", start = "entry", times = at_sim, tau = 36),
  km_case("sim_whole", sim, by = "g", weights = "w_int", times = at_sim, tau = 36),
  km_case("sim_fractional", sim, by = "g", weights = "w_frac", times = at_sim, tau = 36),
  km_case("sim_start_whole", sim, by = "g", start = "entry", weights = "w_int",
          times = at_sim, tau = 36),
  km_case("sim_start_fractional", sim, start = "entry", weights = "w_frac", times = at_sim,
          tau = 36),
  km_case("sim_start_fractional_by", sim, by = "g", start = "entry", weights = "w_frac",
          conf.type = "log", times = at_sim, tau = 36),
  km_case("sim_start_fractional_plain", sim, by = "stratum", start = "entry",
          weights = "w_frac", conf.type = "plain", times = at_sim, tau = 36)
)

# ------------------------------------------------------------------ log-rank (survdiff)
sd_case <- function(name, d, f) {
  sd <- survdiff(f, data = d)
  list(name = name, call = sprintf("survdiff(%s, data)", deparse(f)),
       groups = sub("^[^=]*=", "", names(sd$n)), n = as.vector(sd$n),
       observed = if (is.matrix(sd$obs)) rowSums(sd$obs) else sd$obs,
       expected = if (is.matrix(sd$exp)) rowSums(sd$exp) else sd$exp,
       var = unname(sd$var), chisq = sd$chisq,
       df = sum((if (is.matrix(sd$exp)) rowSums(sd$exp) else sd$exp) > 0) - 1,
       p = sd$pvalue)
}
# group c is censored before the first event: no expected events
zero3 <- write_input(data.frame(time = c(1, 2, 3, 4, 5, 6, 0.5, 0.6),
                                status = c(1L, 1L, 0L, 1L, 0L, 1L, 0L, 0L),
                                g = c("a", "a", "a", "b", "b", "b", "c", "c"),
                                s = c("u", "v", "u", "v", "u", "v", "u", "v")),
                     "km_edge_zero_expected")
zero2 <- zero3[zero3$g != "b", ]
noevent <- data.frame(time = as.double(1:6), status = 0L, g = rep(c("a", "b"), 3))
logrank <- list(
  sd_case("zero_expected_three", zero3, Surv(time, status) ~ g),
  sd_case("zero_expected_three_strata", zero3, Surv(time, status) ~ g + strata(s)),
  sd_case("zero_expected_two", zero2, Surv(time, status) ~ g),
  sd_case("no_events", noevent, Surv(time, status) ~ g),
  sd_case("sim", sim, Surv(time, status) ~ g),
  sd_case("sim_strata", sim, Surv(time, status) ~ g + strata(stratum))
)
stopifnot(logrank[[3]]$p == 1, logrank[[3]]$chisq == 0)

# ------------------------------------------------------------------ Gray's test, singular
# group c is censored before any event: its row of Gray's covariance is 0 (cmprsk: stat
# -1, pv 1 for every cause)
gray <- function(name, d) {
  fit <- with(d, cuminc(time, status, g))
  tt <- fit$Tests
  list(name = name, call = "cmprsk::cuminc(time, status, g)",
       cause = rownames(tt), stat = unname(tt[, "stat"]), pv = unname(tt[, "pv"]),
       df = unname(tt[, "df"]))
}
cr_singular <- write_input(data.frame(
  time = c(1, 2, 3, 4, 5, 6, 7, 8, 0.5, 0.6, 2.5, 3.5),
  status = c(1L, 2L, 1L, 2L, 1L, 0L, 2L, 1L, 0L, 0L, 2L, 1L),
  g = c("a", "a", "a", "a", "b", "b", "b", "b", "c", "c", "a", "b")), "km_edge_gray_singular")
gray_tests <- list(gray("three_groups", cr_singular),
                   gray("two_groups", cr_singular[cr_singular$g != "a", ]),
                   gray("sim", transform(sim, status = cause)))

# ------------------------------------------------------------------ Aalen-Johansen (survfit)
# survfit on a multi-state Surv: pstate and its std.err (infinitesimal jackknife), per
# group, at the fit's times, with and without weights and entry times
aj_case <- function(name, d, by = NULL, start = NULL, weights = NULL) {
  d$state <- factor(d$cause, 0:2, c("censored", "recurrence", "death"))
  lhs <- if (is.null(start)) "Surv(time, state)" else sprintf("Surv(%s, time, state)", start)
  f <- as.formula(paste(lhs, "~", if (is.null(by)) "1" else by))
  # each row its own subject (R needs an id for (start, stop] multi-state data)
  fit <- if (is.null(weights)) survfit(f, data = d, id = seq_len(nrow(d))) else
    survfit(f, data = d, weights = d[[weights]], id = seq_len(nrow(d)))
  k <- match(c("recurrence", "death"), fit$states)
  grp <- if (is.null(fit$strata)) rep("all", length(fit$time)) else
    rep(sub("^[^=]*=", "", names(fit$strata)), fit$strata)
  list(name = name, call = sprintf("survfit(%s, data%s)", deparse(f),
                                   if (is.null(weights)) "" else sprintf(", weights = %s", weights)),
       by = by, start = start, weights = weights, group = grp, time = fit$time,
       estimate_1 = fit$pstate[, k[1]], estimate_2 = fit$pstate[, k[2]],
       std_err_1 = fit$std.err[, k[1]], std_err_2 = fit$std.err[, k[2]])
}
aj <- list(
  aj_case("plain", sim),
  aj_case("by", sim, by = "g"),
  aj_case("whole", sim, by = "g", weights = "w_int"),
  aj_case("fractional", sim, by = "g", weights = "w_frac"),
  aj_case("start", sim, start = "entry"),
  aj_case("start_fractional_by", sim, by = "g", start = "entry", weights = "w_frac")
)

out <- list(km = km, logrank = logrank, gray = gray_tests, aj = aj,
            generated_by = "tests/reference/make_km_edge.R", r_version = R.version.string,
            survival_version = as.character(packageVersion("survival")),
            cmprsk_version = as.character(packageVersion("cmprsk")))
write_json(out, file.path(outdir, "km_edge.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, na = "string")
cat("wrote km_edge fixtures to", outdir, "\n")
