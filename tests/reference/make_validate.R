#!/usr/bin/env Rscript
# Reference values for metsurv.stats.validate: rms 6.5's validate(cph) and calibrate(cph,
# cmethod = "KM") with method = "boot", and Austin, Harrell & van Klaveren (2020)'s ICI, E50
# and E90 ("cox" version: cph on rcs(log(-log S(u)), 3), survest), apparent and
# bootstrap-corrected over the same resamples (that loop is written out here: rms has no
# such function), on data/validate.csv.
#
# The input (committed; R does not write it) is a synthetic draw made once in Python:
#   generate("irlm1997", n=600, seed=15) -> analysis_frame -> os_months rounded to 3
#   decimals (no near ties: cph does not merge them as coxph does), os_event,
#   complete_resection (0/1), dfi_group, n_metastases_group, histology_group, age (1 dp);
#   11 + 4 missing values, dropped by cph's na.delete as by metsurv.
#
# Exact comparison: rms draws its resamples with sample(n, replace = TRUE), once per
# replicate and nothing else random; after set.seed(SEED) the same calls give the same rows,
# written here (0-based) as `indices`, B x n. The script checks that its own replay of
# predab.resample over those rows (fit on the resample with coxphFit(iter.max = 10, eps =
# 1e-4, toler.chol = 1e-9); evaluate on the resample = training, on all rows = test)
# reproduces rms::validate's table (1e-12) before writing the per-replicate values.
#
# Usage: Rscript tests/reference/make_validate.R [outdir]
#   outdir defaults to the directory of this script; writes <outdir>/validate.json (and
#   copies the input it read to <outdir>/data/validate.csv).
# Needs rms (Debian r-cran-rms), survival, jsonlite.

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
  library(rms)
})
args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else script_dir

SEED <- 20261130
B <- 30
U <- 36      # calibration horizon (months)
M <- 100     # patients per calibration group

src <- file.path(script_dir, "data", "validate.csv")
dir.create(file.path(outdir, "data"), recursive = TRUE, showWarnings = FALSE)
if (normalizePath(file.path(outdir, "data")) != normalizePath(dirname(src)))
  file.copy(src, file.path(outdir, "data", "validate.csv"), overwrite = TRUE)  # the input used
d <- read.csv(src, stringsAsFactors = FALSE, na.strings = "")
d <- na.omit(d)  # what cph's na.delete keeps, in order
n <- nrow(d)
form <- Surv(os_months, os_event) ~ complete_resection + dfi_group + n_metastases_group +
  histology_group + age
f <- cph(form, data = d, x = TRUE, y = TRUE, surv = TRUE, time.inc = U)

# ---- rms::validate and the resample rows it drew --------------------------------------
set.seed(SEED)
v <- suppressWarnings(rms::validate(f, method = "boot", B = B))
set.seed(SEED)
idx <- t(vapply(seq_len(B), function(i) sample(n, replace = TRUE), integer(n)))

# ---- replay of predab.resample + validate.cph's discrim over those rows -----------------
x <- f$x
y <- f$y
discrim_fit <- function(xb, yy, fit) {  # evalfit = TRUE
  nn <- nrow(yy)
  lr <- -2 * (fit$loglik[1] - fit$loglik[2]); ll0 <- -2 * fit$loglik[1]
  D <- (lr - 1) / ll0; U <- -2 / ll0
  R2 <- (1 - exp(-lr / nn)) / (1 - exp(-ll0 / nn))
  c(Dxy = unname(rms:::dxy.cens(xb, yy, type = "hazard")["Dxy"]), R2 = R2, Slope = 1,
    D = D, U = U, Q = D - U, g = GiniMd(xb))
}
discrim_test <- function(xb, yy) {  # evalfit = FALSE
  nn <- nrow(yy)
  xm <- matrix(xb, ncol = 1, dimnames = list(as.character(1:nn), "1"))
  g1 <- rms:::coxphFit(x = xm, y = yy, strata = NULL, iter.max = 10, eps = 1e-4,
                       method = "efron", type = "right")
  g0 <- rms:::coxphFit(x = xm, y = yy, strata = NULL, iter.max = 0, eps = 1e-4,
                       method = "efron", init = 1, type = "right")
  lr <- -2 * (g1$loglik[1] - g1$loglik[2]); ll0 <- -2 * g1$loglik[1]
  D <- (lr - 1) / ll0; U <- -2 * (g0$loglik[2] - g1$loglik[2]) / ll0
  R2 <- (1 - exp(-lr / nn)) / (1 - exp(-ll0 / nn))
  s <- unname(g1$coef[1])
  c(Dxy = unname(rms:::dxy.cens(xb, yy, type = "hazard")["Dxy"]), R2 = R2, Slope = s,
    D = D, U = U, Q = D - U, g = GiniMd(s * xb))
}
train <- test <- matrix(NA_real_, B, 7)
ok <- logical(B)
for (i in seq_len(B)) {
  r <- idx[i, ]
  xr <- x[r, , drop = FALSE]
  dimnames(xr) <- list(as.character(seq_len(n)), as.character(seq_len(ncol(x))))
  fi <- rms:::coxphFit(x = xr, y = y[r, , drop = FALSE], strata = NULL, iter.max = 10,
                       eps = 1e-4, method = "efron", toler.chol = 1e-9, type = "right")
  if (fi$fail || any(is.na(fi$coef))) next
  ok[i] <- TRUE
  xb <- drop(x %*% fi$coef)
  train[i, ] <- discrim_fit(xb[r], y[r, , drop = FALSE], fi)
  test[i, ] <- discrim_test(xb, y)
}
opt <- colMeans(train[ok, , drop = FALSE]) - colMeans(test[ok, , drop = FALSE])
stopifnot(max(abs(opt - v[, "optimism"])) < 1e-12, sum(ok) == v[1, "n"])

# ---- rms::calibrate(cmethod = "KM") on the same resample rows ----------------------------
set.seed(SEED)
cal <- suppressWarnings(capture.output(
  cc <- rms::calibrate(f, cmethod = "KM", u = U, m = M, B = B)))
S <- as.vector(f$surv.summary[2, , 1]^exp(f$linear.predictors))

# ---- Austin, Harrell & van Klaveren 2020, "cox" version ---------------------------------
d$cll <- log(-log(S))
fc <- cph(Surv(os_months, os_event) ~ rcs(cll, 3), data = d, x = TRUE, y = TRUE,
          surv = TRUE)
obs <- survest(fc, newdata = d, times = U, conf.int = FALSE)$surv
diffs <- abs(S - obs)
grid <- seq(quantile(S, 0.01), quantile(S, 0.99), length = 100)
curve <- survest(fc, newdata = data.frame(cll = log(-log(grid))), times = U,
                 conf.int = FALSE)$surv

# ---- the same, bootstrap-corrected: each replicate's training model (calibrate.cph's
# coxfit: cph(Surv ~ x, surv = TRUE, time.inc = U) on the resample) smoothed on its own
# resample (training) and on the original rows (test) -------------------------------------
ici_of <- function(S, yy) {
  dd <- data.frame(t = yy[, 1], e = yy[, 2], cll = log(-log(S)))
  fs <- cph(Surv(t, e) ~ rcs(cll, 3), data = dd, x = TRUE, y = TRUE, surv = TRUE)
  a <- abs(S - survest(fs, newdata = dd, times = U, conf.int = FALSE)$surv)
  c(ICI = mean(a), E50 = median(a), E90 = unname(quantile(a, 0.9)))
}
ici_train <- ici_test <- matrix(NA_real_, B, 3)
for (i in seq_len(B)) {
  r <- idx[i, ]
  etime <- y[r, 1]
  e <- y[r, 2]
  xr <- x[r, , drop = FALSE]
  fi <- tryCatch(cph(Surv(etime, e) ~ xr, surv = TRUE, time.inc = U), error = function(z) NULL)
  if (is.null(fi) || sum(e) < 5) next
  s_all <- as.vector(fi$surv.summary[2, , 1]^exp(drop(x %*% coef(fi)) - fi$center))
  ici_train[i, ] <- suppressWarnings(ici_of(s_all[r], y[r, , drop = FALSE]))
  ici_test[i, ] <- suppressWarnings(ici_of(s_all, y))
}
okc <- !is.na(ici_train[, 1]) & !is.na(ici_test[, 1])
ici_opt <- colMeans(ici_train[okc, , drop = FALSE]) - colMeans(ici_test[okc, , drop = FALSE])

out <- list(
  r_version = R.version.string,
  rms_version = as.character(packageVersion("rms")),
  survival_version = as.character(packageVersion("survival")),
  seed = SEED, B = B, n = n, u = U, m = M,
  covariates = c("complete_resection", "dfi_group", "n_metastases_group",
                 "histology_group", "age"),
  indices = idx - 1L,
  coef = unname(coef(f)),
  validate = list(index = rownames(v), index_orig = unname(v[, "index.orig"]),
                  training = unname(v[, "training"]), test = unname(v[, "test"]),
                  optimism = unname(v[, "optimism"]),
                  index_corrected = unname(v[, "index.corrected"]),
                  n = unname(v[, "n"])),
  replicates = list(ok = ok, training = train, test = test,
                    columns = c("Dxy", "R2", "Slope", "D", "U", "Q", "g")),
  calibrate = list(mean_predicted = unname(cc[, "mean.predicted"]),
                   KM = unname(cc[, "KM"]), std_err = unname(cc[, "std.err"]),
                   index_orig = unname(cc[, "index.orig"]),
                   training = unname(cc[, "training"]), test = unname(cc[, "test"]),
                   optimism = unname(cc[, "mean.optimism"]),
                   KM_corrected = unname(cc[, "KM.corrected"]),
                   n = unname(cc[, "n"]), predicted = S),
  ici = list(ici = mean(diffs), e50 = median(diffs), e90 = unname(quantile(diffs, 0.9)),
             knots = unname(fc$Design$parms$cll), observed = unname(obs),
             grid = grid, curve = unname(curve),
             training = unname(colMeans(ici_train[okc, , drop = FALSE])),
             test = unname(colMeans(ici_test[okc, , drop = FALSE])),
             optimism = unname(ici_opt), n = sum(okc))
)
writeLines(toJSON(out, digits = NA, na = "null", auto_unbox = TRUE, matrix = "rowmajor"),
           file.path(outdir, "validate.json"))
