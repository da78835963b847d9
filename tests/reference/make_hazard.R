#!/usr/bin/env Rscript
# Reference values for metsurv's hazard over time (issue 15 item 5), metsurv.stats.hazard.
#
# 1. Kernel-smoothed hazard. muhaz is not installed (not in Debian's archive), so the
#    estimator is written here from its formulas:
#      h(z)     = (1/b)   sum_j K_z((z - t_j)/b)   d_j / Y_j      (Ramlau-Hansen 1983)
#      var h(z) = (1/b^2) sum_j K_z((z - t_j)/b)^2 d_j / Y_j^2
#    over the distinct event times t_j <= tau, d_j events among Y_j at risk (entry < t <=
#    time), with the boundary kernels of Mueller & Wang (1994, Biometrics 50:61-76, Table 1;
#    the same as muhaz's Fortran function `kernel`): left for z < b (q = z/b), mirrored right
#    for z > tau - b (q = (tau - z)/b, kernel at -x). A negative estimate is set to 0 (as
#    muhaz) with NaN limits; CI h * exp(+-qnorm(0.975) se / h). tau: the time at which 10
#    remain at risk, linear interpolation between the last distinct time with >= 10 at risk
#    and the next (R muhaz: approx(fit$n.risk, fit$time, xout = 10), checked equal below
#    without entry times). Default bandwidth tau / (4 d^(1/5)), d the events up to tau.
#    Estimates are per month here; metsurv reports them per patient-year (x 12).
# 2. Annual hazard: survival::pyears(Surv(time, status) ~ tcut(0, breaks), scale = 12) for
#    events and person-years (without entry times; with entry times person-time is
#    sum(pmax(0, pmin(time, b) - pmax(entry, a))) written out, as pyears does not take
#    Surv(entry, time, status) with tcut from 0), and poisson.test(d, PY)$conf.int.
#
# Usage: Rscript tests/reference/make_hazard.R [outdir]
#   Writes <outdir>/data/hazard_input.csv and <outdir>/data/hazard_*.json. Deterministic.

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
source(file.path(script_dir, "common.R"))

set.seed(20261130)
n <- 400
g <- sample(c("a", "b"), n, replace = TRUE, prob = c(.6, .4))
# Weibull event times (increasing hazard in a, decreasing in b), uniform censoring
t_event <- ifelse(g == "a", rweibull(n, 1.5, 60), rweibull(n, 0.8, 40))
t_cens <- runif(n, 6, 150)
time <- pmax(0.5, ceiling(pmin(t_event, t_cens) * 2) / 2)   # half months: tied times
status <- as.integer(t_event <= t_cens)
entry <- ifelse(runif(n) < 0.25, pmin(round(runif(n, 0, 24) * 2) / 2, time - 0.5), 0)
d <- write_input(data.frame(time = time, status = status, g = g, entry = entry),
                 "hazard_input")

kern <- function(x, q, kernel) {
  inside <- x >= -1 & x <= q
  k <- if (q >= 1) {
    switch(kernel, epanechnikov = 0.75 * (1 - x^2), biquadratic = 15 / 16 * (1 - x^2)^2,
           rectangle = rep(0.5, length(x)))
  } else {
    switch(kernel,
           epanechnikov = 12 * (x + 1) / (1 + q)^4 * ((3 * q^2 - 2 * q + 1) / 2 + x * (1 - 2 * q)),
           biquadratic = 60 * (x + 1)^2 * (q - x) / (1 + q)^6 *
             (2 * q^2 - 2 * q + 1 + x * (2 - 3 * q)),
           rectangle = 2 / (1 + q)^3 * (2 * (1 - q + q^2) + 3 * (1 - q) * x))
  }
  ifelse(inside, k, 0)
}

# the boundary kernels integrate to 1 with first moment 0 (Mueller & Wang's conditions)
for (kernel in c("epanechnikov", "biquadratic", "rectangle")) for (q in c(0, 0.3, 0.7, 1)) {
  m0 <- integrate(function(x) kern(x, q, kernel), -1, q)$value
  m1 <- integrate(function(x) x * kern(x, q, kernel), -1, q)$value
  stopifnot(abs(m0 - 1) < 1e-8, abs(m1) < 1e-8)
}

risk_table <- function(time, status, entry) {
  ut <- sort(unique(time))
  dj <- as.vector(tapply(status, factor(time, levels = ut), sum))
  yj <- sapply(ut, function(t) sum(entry < t & time >= t))
  list(time = ut, d = dj, y = yj)
}

end_time <- function(rt) {
  j <- which(rt$y < 10)[1]
  if (is.na(j) || j == 1) return(max(rt$time))
  rt$time[j - 1] + (10 - rt$y[j - 1]) * (rt$time[j] - rt$time[j - 1]) / (rt$y[j] - rt$y[j - 1])
}

smooth <- function(time, status, entry, bandwidth = NULL, grid = 101, kernel = "epanechnikov",
                   conf = 0.95) {
  rt <- risk_table(time, status, entry)
  tau <- end_time(rt)
  keep <- rt$d > 0 & rt$time <= tau
  tj <- rt$time[keep]; dj <- rt$d[keep]; yj <- rt$y[keep]
  b <- if (is.null(bandwidth)) tau / (4 * sum(dj)^0.2) else bandwidth
  z <- if (length(grid) == 1) seq(0, tau, length.out = grid) else sort(grid)
  est <- se <- rep(NA_real_, length(z))
  for (i in seq_along(z)) {
    if (z[i] > tau) next
    u <- (z[i] - tj) / b
    k <- if (z[i] < b) kern(u, z[i] / b, kernel) else if (z[i] > tau - b)
      kern(-u, (tau - z[i]) / b, kernel) else kern(u, 1, kernel)
    est[i] <- sum(k * dj / yj) / b
    se[i] <- sqrt(sum(k^2 * dj / yj^2)) / b
  }
  neg <- !is.na(est) & est < 0
  est[neg] <- 0
  zq <- qnorm(0.5 + conf / 2)
  w <- ifelse(!is.na(est) & est > 0, exp(zq * se / est), NA)
  # at z = 0: those observed from the origin (entry <= 0 <= time)
  n_risk <- sapply(z, function(t) sum((entry < t | (t == 0 & entry == 0)) & time >= t))
  list(time = z, estimate = est, std_err = se, lower = est / w, upper = est * w,
       n_risk = n_risk, bandwidth = b, tau = tau, events = sum(dj), negative = sum(neg))
}

# tau without entry times is muhaz's approx(n.risk, time, xout = 10)
fit0 <- survfit(Surv(time, status) ~ 1, d)
stopifnot(abs(end_time(risk_table(d$time, d$status, rep(0, nrow(d)))) -
              approx(fit0$n.risk, fit0$time, xout = 10)$y) < 1e-12)

no_entry <- rep(0, nrow(d))
cases <- list(
  overall = list(rows = TRUE, entry = FALSE, bandwidth = NULL, kernel = "epanechnikov",
                 grid = 101),
  group_a_biquadratic = list(rows = d$g == "a", entry = FALSE, bandwidth = 9,
                             kernel = "biquadratic", grid = 101),
  group_b_epanechnikov = list(rows = d$g == "b", entry = FALSE, bandwidth = 9,
                              kernel = "epanechnikov", grid = 101),
  entry = list(rows = TRUE, entry = TRUE, bandwidth = NULL, kernel = "epanechnikov",
               grid = 101),
  rectangle_grid = list(rows = TRUE, entry = FALSE, bandwidth = 15, kernel = "rectangle",
                        grid = c(0, 1, 7.5, 14.99, 15, 30, 60, 100, 500))
)
out <- list()
for (name in names(cases)) {
  cs <- cases[[name]]
  dd <- d[cs$rows, ]
  res <- smooth(dd$time, dd$status, if (cs$entry) dd$entry else rep(0, nrow(dd)),
                cs$bandwidth, cs$grid, cs$kernel)
  out[[name]] <- c(list(entry = cs$entry, kernel = cs$kernel,
                        given_bandwidth = if (is.null(cs$bandwidth)) NA else cs$bandwidth,
                        group = if (name == "group_a_biquadratic") "a" else
                          if (name == "group_b_epanechnikov") "b" else NA,
                        grid = if (length(cs$grid) == 1) cs$grid else NA,
                        grid_times = if (length(cs$grid) > 1) cs$grid else NA), res)
}
write_json(out, file.path(outdir, "data", "hazard_smoothed.json"), digits = NA,
           auto_unbox = TRUE, na = "null", pretty = FALSE)

# annual hazard: pyears and poisson.test (no entry), person-time written out (entry)
annual <- function(dd, entry, width = 12) {
  k <- ceiling(max(dd$time) / width)
  br <- (0:k) * width
  if (!entry) {
    p <- pyears(Surv(time, status) ~ tcut(rep(0, nrow(dd)), br, labels = 1:k), data = dd,
                scale = 12)
    py <- as.vector(p$pyears); ev <- as.vector(p$event)
  } else {
    py <- sapply(1:k, function(j) sum(pmax(0, pmin(dd$time, br[j + 1]) -
                                              pmax(dd$entry, br[j])))) / 12
    cell <- pmax(1, findInterval(dd$time, br, left.open = TRUE))
    ev <- sapply(1:k, function(j) sum(dd$status[cell == j]))
  }
  ci <- t(sapply(1:k, function(j) if (py[j] > 0) poisson.test(ev[j], py[j])$conf.int[1:2]
                 else c(NA, NA)))
  list(start = br[-(k + 1)], end = br[-1], events = ev, person_years = py,
       rate = ifelse(py > 0, ev / py, NA), lower = ci[, 1], upper = ci[, 2])
}
ann <- list(overall = annual(d, FALSE), group_a = annual(d[d$g == "a", ], FALSE),
            group_b = annual(d[d$g == "b", ], FALSE), entry = annual(d, TRUE),
            width6 = annual(d, FALSE, 6))
write_json(ann, file.path(outdir, "data", "hazard_annual.json"), digits = NA,
           auto_unbox = TRUE, na = "null", pretty = FALSE)
cat("wrote hazard fixtures to", file.path(outdir, "data"), "\n")
