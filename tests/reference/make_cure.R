#!/usr/bin/env Rscript
# Reference values for metsurv's parametric and mixture-cure models (issue 15 item 7,
# metsurv.stats.cure).
#
# A. survival::survreg(Surv(time, status) ~ g + z, dist = "weibull" / "lognormal" /
#    "loglogistic"): coefficients, log(scale), their standard errors and the log-likelihood.
# B. The Weibull mixture cure model S(t|x) = pi(x) + (1 - pi(x)) exp(-(t / lambda(x))^rho),
#    logit pi(x) = x . b_cure, log lambda(x) = x . b_lambda, log rho = s. No R package for it
#    is in Debian (smcure, flexsurvcure are not packaged), so its log-likelihood
#      event:    log(1 - pi) - z + log rho + (rho - 1) log t - rho log lambda,  z = (t/lambda)^rho
#      censored: log(pi + (1 - pi) exp(-z))
#    and its analytic gradient are written here and maximised with optim (BFGS, reltol 1e-15),
#    then polished with Newton steps on the Hessian of the analytic gradient (optimHess);
#    the variance is the inverse of that Hessian. The cure fraction of each level of g is the
#    mean fitted pi over its patients, with the delta-method CI on the logit scale:
#    se = sqrt(g' V g) / (m (1 - m)), g = mean_i pi_i (1 - pi_i) x_i.
#
# Usage: Rscript tests/reference/make_cure.R [outdir]
#   Writes <outdir>/data/cure_data.csv and <outdir>/data/cure_fit.json. Deterministic.

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
source(file.path(script_dir, "common.R"))

set.seed(20261130)
n <- 800
g <- sample(c("a", "b", "c"), n, replace = TRUE, prob = c(0.4, 0.35, 0.25))
z <- round(rnorm(n), 3)
pi_true <- plogis(0.4 - 0.9 * (g == "b") - 1.6 * (g == "c") + 0.3 * z)
lam_true <- exp(3.0 - 0.3 * (g == "b") - 0.5 * (g == "c") + 0.2 * z)
cured <- runif(n) < pi_true
t_event <- ifelse(cured, Inf, lam_true * rexp(n)^(1 / 1.3))
t_cens <- runif(n, 30, 300)
d <- data.frame(time = round(pmin(t_event, t_cens), 4), status = as.integer(t_event <= t_cens),
                g = g, z = z)
d <- write_input(d, "cure_data")

terms <- c("(Intercept)", "g[b]", "g[c]", "z")
X <- model.matrix(~ g + z, d)
stopifnot(identical(unname(colnames(X)), c("(Intercept)", "gb", "gc", "z")))

# ---- A. survreg
aft <- lapply(c(weibull = "weibull", lognormal = "lognormal", loglogistic = "loglogistic"),
              function(dist) {
  fit <- survreg(Surv(time, status) ~ g + z, data = d, dist = dist,
                 control = survreg.control(rel.tolerance = 1e-13, maxiter = 200))
  se <- sqrt(diag(vcov(fit)))
  list(terms = terms, coef = unname(coef(fit)), se = unname(se[1:4]),
       log_scale = log(fit$scale), se_log_scale = unname(se[5]),
       loglik = fit$loglik[2])
})

# ---- B. mixture cure
k <- ncol(X)
t <- d$time
e <- d$status
unpack <- function(th) list(a = drop(X %*% th[1:k]), ll = drop(X %*% th[k + 1:k]),
                            s = th[2 * k + 1])
lae <- function(x, y) pmax(x, y) + log1p(exp(-abs(x - y)))  # log(exp(x) + exp(y))
negll <- function(th) {
  p <- unpack(th)
  rho <- exp(p$s)
  zz <- exp(rho * (log(t) - p$ll))
  lpi <- -lae(0, -p$a)
  l1 <- -lae(0, p$a)
  ev <- l1 - zz + p$s + (rho - 1) * log(t) - rho * p$ll
  ce <- lae(lpi, l1 - zz)
  -sum(ifelse(e == 1, ev, ce))
}
neggrad <- function(th) {
  p <- unpack(th)
  rho <- exp(p$s)
  u <- log(t) - p$ll
  zz <- exp(rho * u)
  pi <- plogis(p$a)
  S <- pi + (1 - pi) * exp(-zz)
  # d/da, d/dlog(lambda), d/ds of each patient's log-likelihood
  da <- ifelse(e == 1, -pi, pi * (1 - pi) * (1 - exp(-zz)) / S)
  dl <- ifelse(e == 1, rho * (zz - 1), (1 - pi) * exp(-zz) * rho * zz / S)
  ds <- ifelse(e == 1, 1 + rho * u * (1 - zz), -(1 - pi) * exp(-zz) * zz * rho * u / S)
  -c(colSums(X * da), colSums(X * dl), sum(ds))
}
w0 <- survreg(Surv(time, status) ~ g + z, data = d, dist = "weibull")
start <- c(qlogis(0.3), 0, 0, 0, coef(w0), -log(w0$scale))
opt <- optim(start, negll, neggrad, method = "BFGS",
             control = list(reltol = 1e-15, maxit = 10000))
stopifnot(opt$convergence == 0)
th <- opt$par
for (i in 1:5) {  # Newton polish
  H <- optimHess(th, negll, neggrad)
  th <- th - solve(H, neggrad(th))
}
H <- optimHess(th, negll, neggrad)
V <- solve(H)
stopifnot(max(abs(neggrad(th))) < 1e-6)
p <- unpack(th)
pi_hat <- plogis(p$a)
idx <- 1:k
level_cure <- function(mask) {
  m <- mean(pi_hat[mask])
  gr <- colMeans(X[mask, , drop = FALSE] * (pi_hat[mask] * (1 - pi_hat[mask])))
  se <- sqrt(drop(t(gr) %*% V[idx, idx] %*% gr)) / (m * (1 - m))
  list(estimate = m, std_err_logit = se, lower = plogis(qlogis(m) - qnorm(0.975) * se),
       upper = plogis(qlogis(m) + qnorm(0.975) * se))
}
levels_out <- c(list(all = level_cure(rep(TRUE, n))),
                setNames(lapply(c("a", "b", "c"), function(l) level_cure(d$g == l)),
                         c("a", "b", "c")))
cure <- list(terms = terms, cure = th[1:k], lambda = th[k + 1:k], log_rho = th[2 * k + 1],
             se_cure = sqrt(diag(V))[1:k], se_lambda = sqrt(diag(V))[k + 1:k],
             se_log_rho = sqrt(diag(V))[2 * k + 1], loglik = -negll(th),
             cure_fraction = levels_out)

out <- list(
  generated_by = "tests/reference/make_cure.R",
  r_version = R.version.string,
  survival_version = as.character(packageVersion("survival")),
  n = n, events = sum(d$status),
  aft = aft,
  weibull_cure = cure
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(outdir, "data", "cure_fit.json"))
