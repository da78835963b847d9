#!/usr/bin/env Rscript
# Reference values for metsurv.stats.logrank with delayed entry (left truncation), which R
# survdiff refuses ("Right censored data only"). Two oracles:
#  (a) an independent implementation written here, straight from the definition: at each
#      event time t of a stratum the risk set is the rows with start < t <= stop; per group
#      O = sum w d_g, E = sum w d n_g / n, V = sum w^2 d (n - d) / (n - 1) (diag(p) - p p')
#      with p = n_g / n and w = S(t-)^rho, S the left-truncated KM of the pooled stratum;
#      chisq = (O - E)' V^- (O - E) with a generalised inverse (eigen), df = rank of V;
#      trend: (s'(O - E))^2 / (s' V s);
#  (b) for rho = 0, the score test of coxph at beta = 0 (fit$score):
#      ties = "breslow" on data without tied event times (Breslow's information is then
#      the hypergeometric variance), ties = "exact" on data with ties (the exact partial
#      likelihood's information is the hypergeometric variance with ties; the Breslow
#      score test differs there, recorded too).
# The hand implementation is checked here against survdiff (all entries 0) and its S(t-)
# against survfit(Surv(start, stop, event) ~ 1); the script stops if either disagrees.
#
# Usage: Rscript tests/reference/make_logrank_entry.R [outdir]
#   outdir defaults to the directory of this script. Writes <outdir>/data/logrank_entry_*.csv
#   (the exact inputs Python reads) and <outdir>/logrank_entry.json (full precision).
# Needs survival, jsonlite and common.R beside it. Deterministic (set.seed).

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
source(file.path(script_dir, "common.R"))

# ------------------------------------------------------------------ inputs
# a registry: 240 patients, 40% enter after the operation (up to 24 months, so after many
# events), times in half months (tied events, entries tied with event times), three
# groups, two strata; `zero` is an entry time of 0 for everyone
set.seed(20260917)
n <- 240
g <- sample(c("a", "b", "c"), n, replace = TRUE, prob = c(.4, .35, .25))
stratum <- sample(c("s1", "s2"), n, replace = TRUE)
entry <- ifelse(runif(n) < 0.4, round(runif(n, 0, 24) * 2) / 2, 0)
t_event <- rexp(n, c(a = 0.02, b = 0.03, c = 0.045)[g])
t_cens <- runif(n, 6, 96)
stop_t <- pmax(entry + 0.5, ceiling((entry + pmin(t_event, t_cens)) * 2) / 2)
status <- as.integer(t_event <= t_cens)
sim <- write_input(data.frame(entry = entry, time = stop_t, status = status, g = g,
                              stratum = stratum, zero = 0), "logrank_entry_sim")

# continuous times: no two event times tied, no entry on an event time (Breslow oracle)
set.seed(20260918)
n <- 150
g <- sample(c("a", "b", "c"), n, replace = TRUE)
stratum <- sample(c("s1", "s2"), n, replace = TRUE)
entry <- ifelse(runif(n) < 0.4, runif(n, 0, 20), 0)
t_event <- rexp(n, c(a = 0.025, b = 0.035, c = 0.05)[g])
t_cens <- runif(n, 5, 80)
noties <- write_input(data.frame(entry = entry, time = entry + pmin(t_event, t_cens),
                                 status = as.integer(t_event <= t_cens), g = g,
                                 stratum = stratum), "logrank_entry_noties")
ev_times <- noties$time[noties$status == 1]
stopifnot(!anyDuplicated(ev_times), !any(ev_times %in% noties$entry),
          min(diff(sort(unique(c(noties$entry, noties$time))))) > 1e-6)

# small, whole months, tied events and entries (coxph ties = "exact" is combinatorial:
# keep the ties few)
set.seed(20260919)
n <- 70
g <- sample(c("a", "b", "c"), n, replace = TRUE)
stratum <- sample(c("s1", "s2"), n, replace = TRUE)
entry <- ifelse(runif(n) < 0.4, round(runif(n, 0, 12)), 0)
t_event <- rexp(n, c(a = 0.04, b = 0.06, c = 0.08)[g])
t_cens <- runif(n, 4, 60)
ties <- write_input(data.frame(entry = entry, time = entry + pmax(1, round(pmin(t_event, t_cens))),
                               status = as.integer(t_event <= t_cens), g = g,
                               stratum = stratum), "logrank_entry_ties")

# worked by hand: b2 enters at 3 (after the events at 1 and 2) and at 3 itself there is
# an event (b2 is not at risk at 3); "late" enters after the last event (E = 0)
late <- write_input(data.frame(
  entry = c(0, 0, 0, 0, 0, 3, 0, 2, 9, 10),
  time = c(1, 3, 5, 8, 2, 6, 7, 4, 11, 12),
  status = c(1L, 1L, 0L, 1L, 1L, 1L, 0L, 1L, 0L, 0L),
  g = c("a", "a", "a", "a", "b", "b", "b", "b", "late", "late")), "logrank_entry_late")

# ------------------------------------------------------------------ oracle (a): by hand
# left-truncated KM S(t-) at the event times of one stratum, by hand
km_minus <- function(x, start, tt) {
  S <- 1
  out <- numeric(length(tt))
  for (i in seq_along(tt)) {
    out[i] <- S
    n <- sum(x[[start]] < tt[i] & x$time >= tt[i])
    S <- S * (1 - sum(x$time == tt[i] & x$status == 1) / n)
  }
  out
}

hand <- function(d, by, strata = NULL, rho = 0, start = "entry", scores = NULL) {
  grp <- factor(d[[by]])
  lev <- levels(grp)
  k <- length(lev)
  st <- if (is.null(strata)) rep("all", nrow(d)) else d[[strata]]
  O <- E <- numeric(k)
  V <- matrix(0, k, k)
  for (s in unique(st)) {
    x <- d[st == s, ]
    gx <- grp[st == s]
    tt <- sort(unique(x$time[x$status == 1]))
    Sm <- km_minus(x, start, tt)
    # the hand S(t-) is survfit's left-truncated KM, one step back
    if (length(tt) > 1) {
      fit <- survfit(Surv(x[[start]], x$time, x$status) ~ 1)
      stopifnot(isTRUE(all.equal(Sm[-1], summary(fit, times = tt)$surv[-length(tt)],
                                 tolerance = 1e-13)))
    }
    for (i in seq_along(tt)) {
      at_risk <- x[[start]] < tt[i] & x$time >= tt[i]
      n_g <- sapply(lev, function(l) sum(at_risk & gx == l))
      d_g <- sapply(lev, function(l) sum(x$time == tt[i] & x$status == 1 & gx == l))
      nn <- sum(n_g)
      dd <- sum(d_g)
      w <- Sm[i]^rho
      O <- O + w * d_g
      E <- E + w * dd * n_g / nn
      if (nn > 1) {
        p <- n_g / nn
        V <- V + w^2 * dd * (nn - dd) / (nn - 1) * (diag(p, k) - p %o% p)
      }
    }
  }
  eg <- eigen(V, symmetric = TRUE)
  keep <- eg$values > max(eg$values, 0) * 1e-10
  Vinv <- eg$vectors[, keep, drop = FALSE] %*% diag(1 / eg$values[keep], sum(keep)) %*%
    t(eg$vectors[, keep, drop = FALSE])
  chisq <- drop(t(O - E) %*% Vinv %*% (O - E))
  df <- sum(keep)
  out <- list(groups = lev, n = as.vector(table(grp)), observed = unname(O),
              expected = unname(E), var = unname(V), chisq = chisq, df = df,
              p = if (df > 0) pchisq(chisq, df, lower.tail = FALSE) else 1)
  if (!is.null(scores)) {
    u <- sum(scores * (O - E))
    out$trend_scores <- scores
    out$trend_chisq <- u^2 / drop(t(scores) %*% V %*% scores)
    out$trend_p <- pchisq(out$trend_chisq, 1, lower.tail = FALSE)
  }
  out
}

# ------------------------------------------------------------------ oracle (b): coxph score
cox_score <- function(d, by, strata, start, ties) {
  rhs <- paste(c(sprintf("factor(%s)", by), if (!is.null(strata)) sprintf("strata(%s)", strata)),
               collapse = " + ")
  f <- as.formula(sprintf("Surv(%s, time, status) ~ %s", start, rhs))
  # only the score test at the initial beta = 0 is used, not the fitted coefficients, so
  # a convergence warning of the fit (monotone likelihood) does not concern it
  fit <- suppressWarnings(coxph(f, data = d, ties = ties))
  list(call = sprintf("coxph(%s, data, ties = '%s')$score", deparse(f), ties),
       score = unname(fit$score))
}

lr_case <- function(name, data, d, by = "g", strata = NULL, rho = 0, start = "entry",
                    scores = NULL, keep = NULL, cox_ties = NULL, survdiff = FALSE) {
  if (!is.null(keep)) d <- d[d[[by]] %in% keep, ]
  h <- hand(d, by, strata, rho, start, scores)
  out <- c(list(name = name, data = data, by = by, strata = strata, rho = rho,
                start = start, keep = keep,
                call = sprintf("hand(d, by = '%s', strata = %s, rho = %s, start = '%s')", by,
                               if (is.null(strata)) "NULL" else sprintf("'%s'", strata),
                               rho, start)), h)
  for (ti in cox_ties) out[[paste0("coxph_", ti)]] <- cox_score(d, by, strata, start, ti)
  if (survdiff) {
    f <- as.formula(sprintf("Surv(time, status) ~ %s%s", by,
                            if (is.null(strata)) "" else sprintf(" + strata(%s)", strata)))
    sd <- survdiff(f, data = d, rho = rho)
    obs <- if (is.matrix(sd$obs)) rowSums(sd$obs) else sd$obs
    exp_ <- if (is.matrix(sd$exp)) rowSums(sd$exp) else sd$exp
    # the hand implementation with every entry at 0 is survdiff
    stopifnot(isTRUE(all.equal(h$observed, unname(obs), tolerance = 1e-12)),
              isTRUE(all.equal(h$expected, unname(exp_), tolerance = 1e-12)),
              isTRUE(all.equal(h$var, unname(sd$var), tolerance = 1e-12)),
              isTRUE(all.equal(h$chisq, sd$chisq, tolerance = 1e-10)))
    out$survdiff <- list(call = sprintf("survdiff(%s, data, rho = %s)", deparse(f), rho),
                         observed = unname(obs), expected = unname(exp_), var = unname(sd$var),
                         chisq = sd$chisq, p = sd$pvalue)
  }
  out
}

cases <- list(
  lr_case("sim_two", "logrank_entry_sim", sim, keep = c("a", "b")),
  lr_case("sim_three_trend", "logrank_entry_sim", sim, scores = c(1, 2, 3)),
  lr_case("sim_three_strata_trend", "logrank_entry_sim", sim, strata = "stratum",
          scores = c(0, 1, 3)),
  lr_case("sim_three_rho1_trend", "logrank_entry_sim", sim, rho = 1, scores = c(1, 2, 3)),
  lr_case("sim_three_strata_rho1", "logrank_entry_sim", sim, strata = "stratum", rho = 1),
  lr_case("sim_three_rho_half", "logrank_entry_sim", sim, rho = 0.5),
  lr_case("sim_zero_entry", "logrank_entry_sim", sim, start = "zero", scores = c(1, 2, 3),
          survdiff = TRUE),
  lr_case("sim_zero_entry_strata_rho1", "logrank_entry_sim", sim, start = "zero",
          strata = "stratum", rho = 1, survdiff = TRUE),
  lr_case("noties_two", "logrank_entry_noties", noties, keep = c("a", "c"),
          cox_ties = "breslow"),
  lr_case("noties_three", "logrank_entry_noties", noties, cox_ties = "breslow"),
  lr_case("noties_three_strata", "logrank_entry_noties", noties, strata = "stratum",
          cox_ties = "breslow"),
  lr_case("noties_three_rho1", "logrank_entry_noties", noties, rho = 1),
  lr_case("ties_three", "logrank_entry_ties", ties, cox_ties = c("exact", "breslow")),
  lr_case("ties_three_strata", "logrank_entry_ties", ties, strata = "stratum",
          cox_ties = c("exact", "breslow")),
  lr_case("late_three", "logrank_entry_late", late, cox_ties = "exact"),
  lr_case("late_two", "logrank_entry_late", late, keep = c("a", "late"))
)
# oracle (b) agrees with oracle (a) where it should
for (cs in cases) {
  if (!is.null(cs$coxph_exact)) stopifnot(isTRUE(all.equal(cs$coxph_exact$score, cs$chisq,
                                                           tolerance = 1e-8)))
  if (!is.null(cs$coxph_breslow) && startsWith(cs$name, "noties"))
    stopifnot(isTRUE(all.equal(cs$coxph_breslow$score, cs$chisq, tolerance = 1e-8)))
}

out <- list(cases = cases, generated_by = "tests/reference/make_logrank_entry.R",
            r_version = R.version.string,
            survival_version = as.character(packageVersion("survival")))
write_json(out, file.path(outdir, "logrank_entry.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, na = "string")
cat("wrote logrank_entry fixtures to", outdir, "\n")
