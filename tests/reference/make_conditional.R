#!/usr/bin/env Rscript
# Reference values for metsurv's conditional survival (issue 15 item 4):
# S(t | alive at s) = S(t) / S(s), the product-limit estimator over (s, t], with
# Greenwood's variance S_c(t)^2 * sum_{s < t_j <= t} d_j / (n_j (n_j - d_j)) and R survival's
# pointwise CI (survfit_confint) on the fit's conf.type. condSURV is not installed, so the
# computation is written here from survfit, two ways:
#   A. survfit on all the data: S(t)/S(s) and the Greenwood sum over (s, t] from
#      summary(fit, censored = TRUE)$n.risk / $n.event, the CI by survival's formula;
#   B. survfit on the patients still at risk after s (stop > s), entry moved to max(entry, s)
#      and all times shifted by -s, read at t - s with summary(fit, times, extend = TRUE).
# The script stops unless A and B agree (1e-12); the fixture holds A. For fractional case
# weights (R: robust = TRUE, infinitesimal-jackknife variance) only B is defined from the
# patients and the fixture holds B.
# Conventions written into both: NaN when nobody is at risk after s or S(s) = 0.
#
# Usage: Rscript tests/reference/make_conditional.R [outdir]
#   Writes <outdir>/data/conditional.csv and <outdir>/conditional.json. Deterministic.

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
source(file.path(script_dir, "common.R"))

set.seed(20260915)
n <- 300
g <- sample(c("a", "b"), n, replace = TRUE, prob = c(.55, .45))
t_event <- rexp(n, c(a = 0.015, b = 0.035)[g])
t_cens <- runif(n, 12, 132)
time <- pmax(0.5, ceiling(pmin(t_event, t_cens) * 2) / 2)   # half months: ties, exact shifts
status <- as.integer(t_event <= t_cens)
entry <- ifelse(runif(n) < 0.3, pmin(round(runif(n, 0, 30) * 2) / 2, time - 0.5), 0)
# group c: four patients who all die by month 10 (S(s) = 0 after), nobody at risk after 10
d <- data.frame(time = c(time, 3, 5, 5, 10), status = c(status, 1L, 1L, 1L, 1L),
                g = c(g, "c", "c", "c", "c"), entry = c(entry, 0, 0, 0, 0),
                w_int = as.double(c(sample(1:3, n, replace = TRUE), 1, 2, 1, 1)),
                w_frac = c(round(runif(n, 0.2, 2.5), 3), 0.5, 1.5, 1, 0.75))
d <- write_input(d, "conditional")

givens <- c(0, 4, 12, 24, 36, 60)
horizon <- c(0, 6, 12, 36, 60)
conf_level <- 0.95

confint <- function(surv, se, type) {   # survival:::survfit_confint, logse = TRUE
  z <- qnorm(1 - (1 - conf_level) / 2)
  if (type == "plain") {
    lo <- pmax(surv - z * se * surv, 0); hi <- pmin(surv + z * se * surv, 1)
  } else if (type == "log") {
    xx <- ifelse(surv == 0, NA, surv)
    lo <- exp(log(xx) - z * se); hi <- pmin(exp(log(xx) + z * se), 1)
  } else {
    xx <- ifelse(surv == 0 | surv == 1, NA, surv)
    lo <- exp(-exp(log(-log(xx)) - z * se / log(xx)))
    hi <- exp(-exp(log(-log(xx)) + z * se / log(xx)))
  }
  list(lower = lo, upper = hi)
}

lhs <- function(start) if (is.null(start)) "Surv(time, status)" else "Surv(entry, time, status)"

way_a <- function(dd, start, weights, type) {
  f <- as.formula(paste(lhs(start), "~ g"))
  fit <- if (is.null(weights)) survfit(f, dd, conf.type = type) else
    survfit(f, dd, conf.type = type, weights = dd[[weights]])
  s <- summary(fit, censored = TRUE)
  grp <- sub("^g=", "", as.character(s$strata))
  rows <- list()
  for (lev in sort(unique(dd$g))) {
    k <- grp == lev
    tt <- s$time[k]; nr <- s$n.risk[k]; ne <- s$n.event[k]; sv <- s$surv[k]
    inc <- ifelse(ne > 0, ne / (nr * (nr - ne)), 0)
    for (s0 in givens) {
      i_s <- which(tt <= s0); S_s <- if (length(i_s)) sv[max(i_s)] else 1
      after <- which(tt > s0); n_given <- if (length(after)) nr[min(after)] else 0
      for (h in horizon) {
        t1 <- s0 + h
        i_t <- which(tt <= t1); S_t <- if (length(i_t)) sv[max(i_t)] else 1
        between <- tt > s0 & tt <= t1
        est <- S_t / S_s
        se <- sqrt(sum(inc[between]))
        if (n_given == 0 || S_s == 0) { est <- NA; se <- NA }
        ci <- confint(est, se, type)
        # no time in (s, t]: before the first time of the conditional curve, where R's
        # summary(fit, times) gives limits 1 (as way B)
        if (!any(between) && !is.na(est)) ci <- list(lower = 1, upper = 1)
        rows[[length(rows) + 1]] <- data.frame(group = lev, given = s0, time = t1,
          estimate = est, std_err = est * se, lower = ci$lower, upper = ci$upper,
          n_risk_given = n_given)
      }
    }
  }
  do.call(rbind, rows)   # ordered by group, given, time
}

way_b <- function(dd, start, weights, type) {
  rows <- list()
  for (s0 in givens) {
    sub <- dd[dd$time > s0, ]
    sub$entry <- (if (is.null(start)) 0 else pmax(sub$entry, s0)) - s0
    sub$time <- sub$time - s0
    # (entry, time]: with no entry times the counting-process form at entry 0 is R's
    # right-censored fit
    f <- Surv(entry, time, status) ~ g
    fit <- if (!nrow(sub)) NULL else if (is.null(weights)) survfit(f, sub, conf.type = type) else
      survfit(f, sub, conf.type = type, weights = sub[[weights]])
    for (lev in sort(unique(dd$g))) {
      have <- !is.null(fit) && any(sub$g == lev)
      if (have) {
        fl <- fit[paste0("g=", lev)]
        sm <- summary(fl, times = horizon, extend = TRUE)
        n_given <- summary(fl, censored = TRUE)$n.risk[1]
      }
      for (j in seq_along(horizon)) {
        rows[[length(rows) + 1]] <- if (have) data.frame(group = lev, given = s0,
          time = s0 + horizon[j], estimate = sm$surv[j], std_err = sm$std.err[j],
          lower = sm$lower[j], upper = sm$upper[j], n_risk_given = n_given) else
          data.frame(group = lev, given = s0, time = s0 + horizon[j], estimate = NA,
                     std_err = NA, lower = NA, upper = NA, n_risk_given = 0)
      }
    }
  }
  r <- do.call(rbind, rows)
  r <- r[order(r$group, r$given, r$time), ]
  rownames(r) <- NULL
  r
}

cases <- list(
  list(name = "loglog", start = NULL, weights = NULL, conf_type = "log-log"),
  list(name = "log", start = NULL, weights = NULL, conf_type = "log"),
  list(name = "plain", start = NULL, weights = NULL, conf_type = "plain"),
  list(name = "delayed", start = "entry", weights = NULL, conf_type = "log-log"),
  list(name = "weights_whole", start = NULL, weights = "w_int", conf_type = "log-log"),
  list(name = "weights_fractional", start = "entry", weights = "w_frac", conf_type = "log")
)
out <- list()
for (cs in cases) {
  b <- way_b(d, cs$start, cs$weights, cs$conf_type)
  if (cs$name == "weights_fractional") {
    res <- b; way <- "B (subset refit; robust = TRUE)"
  } else {
    res <- way_a(d, cs$start, cs$weights, cs$conf_type)
    stopifnot(identical(is.na(res$estimate), is.na(b$estimate)))
    for (v in c("estimate", "std_err", "lower", "upper", "n_risk_given"))
      stopifnot(isTRUE(all.equal(res[[v]], b[[v]], tolerance = 1e-12)))
    way <- "A (S(t)/S(s), Greenwood sum over (s, t]); B agrees to 1e-12"
  }
  out[[length(out) + 1]] <- c(cs[c("name", "conf_type")],
    list(start = if (is.null(cs$start)) NA else cs$start,
         weights = if (is.null(cs$weights)) NA else cs$weights, way = way,
         conf_level = conf_level, table = as.list(res)))
}
write_json(list(r_version = R.version.string,
                survival = as.character(packageVersion("survival")), cases = out),
           file.path(outdir, "conditional.json"), digits = NA, na = "string",
           auto_unbox = TRUE, pretty = FALSE)
