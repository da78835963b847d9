#!/usr/bin/env Rscript
# Reference values for metsurv.power: the number of events of Schoenfeld (1983) and Freedman
# (1982) for a two-group comparison, the power they give for a number of events, the
# probability of an event under uniform accrual, additional follow-up, exponential survival
# and exponential loss to follow-up (closed form, Schoenfeld's Simpson rule, and R's
# numerical integrate() as an independent check of the closed form), and the number of
# patients. Base R only (powerSurvEpi is not installed on the machine that wrote the
# fixture); the formulas are written out below from the papers:
#   Schoenfeld D (1983) Biometrics 39:499-503 (events; Simpson rule for P(event)).
#   Freedman LS (1982) Stat Med 1:121-129 (events), with unequal allocation k = nE / nC as
#   in powerSurvEpi::ssizeCT.default: nD = ((k HR + 1) / (HR - 1))^2 (z_a + z_b)^2 / k.
#   Collett D (2015) Modelling Survival Data in Medical Research, 3rd ed., section 10.2.
#
# Usage: Rscript tests/reference/make_power.R [outdir]
#   outdir defaults to the directory of this script; writes <outdir>/power.json.
# Needs jsonlite. Deterministic (no random numbers).

suppressPackageStartupMessages(library(jsonlite))
script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else script_dir

events_schoenfeld <- function(hr, alpha, power, p) {
  (qnorm(1 - alpha / 2) + qnorm(power))^2 / (p * (1 - p) * log(hr)^2)
}
events_freedman <- function(hr, alpha, power, p) {
  k <- p / (1 - p)  # experimental : control
  ((k * hr + 1) / (hr - 1))^2 * (qnorm(1 - alpha / 2) + qnorm(power))^2 / k
}
power_schoenfeld <- function(d, hr, alpha, p) {
  pnorm(sqrt(d * p * (1 - p)) * abs(log(hr)) - qnorm(1 - alpha / 2))
}
power_freedman <- function(d, hr, alpha, p) {
  k <- p / (1 - p)
  pnorm(sqrt(d * k) * abs(1 - hr) / (1 + k * hr) - qnorm(1 - alpha / 2))
}

# P(event observed by time t) under hazard lambda and loss hazard eta (per month)
observed_by <- function(t, lambda, eta) lambda / (lambda + eta) * (1 - exp(-(lambda + eta) * t))
# its mean over follow-up times uniform on [f, f + a]
p_exact <- function(lambda, eta, a, f) {
  k <- lambda + eta
  if (a == 0) return(observed_by(f, lambda, eta))
  lambda / k * (1 - (exp(-k * f) - exp(-k * (f + a))) / (k * a))
}
p_simpson <- function(lambda, eta, a, f) {
  (observed_by(f, lambda, eta) + 4 * observed_by(f + a / 2, lambda, eta) +
     observed_by(f + a, lambda, eta)) / 6
}
p_integrate <- function(lambda, eta, a, f) {
  if (a == 0) return(observed_by(f, lambda, eta))
  integrate(function(t) observed_by(t, lambda, eta), f, f + a,
            rel.tol = 1e-12, abs.tol = 0)$value / a
}

designs <- expand.grid(
  hr = c(0.5, 2 / 3, 0.75, 1.5), alpha = c(0.05, 0.01), power = c(0.8, 0.9),
  allocation = c(0.5, 1 / 3), median = c(24, 70), accrual = c(0, 36),
  follow_up = c(12, 24), loss = c(0, 0.1), KEEP.OUT.ATTRS = FALSE)
# a smaller grid keeps the fixture readable: every 7th row plus the first
designs <- designs[c(1, seq(7, nrow(designs), by = 7)), ]

cases <- lapply(seq_len(nrow(designs)), function(i) {
  d <- designs[i, ]
  lambda0 <- log(2) / d$median
  lambda1 <- d$hr * lambda0
  eta <- -log(1 - d$loss) / 12  # loss: proportion lost to follow-up per year
  p <- d$allocation
  pe <- c(exact = (1 - p) * p_exact(lambda0, eta, d$accrual, d$follow_up) +
            p * p_exact(lambda1, eta, d$accrual, d$follow_up),
          simpson = (1 - p) * p_simpson(lambda0, eta, d$accrual, d$follow_up) +
            p * p_simpson(lambda1, eta, d$accrual, d$follow_up),
          integrate = (1 - p) * p_integrate(lambda0, eta, d$accrual, d$follow_up) +
            p * p_integrate(lambda1, eta, d$accrual, d$follow_up))
  es <- events_schoenfeld(d$hr, d$alpha, d$power, p)
  ef <- events_freedman(d$hr, d$alpha, d$power, p)
  list(hr = d$hr, alpha = d$alpha, power = d$power, allocation = p, median = d$median,
       accrual = d$accrual, follow_up = d$follow_up, loss = d$loss,
       events_schoenfeld = es, events_freedman = ef,
       power_schoenfeld_at_100 = power_schoenfeld(100, d$hr, d$alpha, p),
       power_freedman_at_100 = power_freedman(100, d$hr, d$alpha, p),
       p_event_exact = unname(pe["exact"]), p_event_simpson = unname(pe["simpson"]),
       p_event_integrate = unname(pe["integrate"]),
       patients_schoenfeld = es / pe[["exact"]], patients_freedman = ef / pe[["exact"]])
})

out <- list(
  generated_by = "tests/reference/make_power.R",
  r_version = R.version.string,
  cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(outdir, "power.json"))
