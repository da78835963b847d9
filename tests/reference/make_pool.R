#!/usr/bin/env Rscript
# Reference values for metsurv.stats.pool (Rubin's rules) and a qualitative check of
# metsurv.stats.impute (issue 13, item 4), with R mice 3.15.
#
# Inputs (written by `python tests/stats/test_impute.py`, i.e. by metsurv's own impute):
#   data/pool_imputed.csv    m = 5 completed data sets, long format, column imp = 1..5
#   data/pool_incomplete.csv the same registry before imputation (NA = missing)
# Output: pool.json with
#   fits          coef and vcov of coxph(Surv(os_months, os_event) ~ age +
#                 n_metastases_group + laterality + complete_resection) per completed set
#                 (reference levels as metsurv: "1", "bilateral", TRUE)
#   pooled        summary(pool(as.mira(fits), dfcom = ...), type = "all", conf.int = TRUE)
#                 for the default dfcom (mice get.dfcom: nevent - k), Inf and 50
#   scalar        pool.scalar(Q, U, n = 120, k = 3) on fixed numbers
#   mice          mice(m = 20, maxit = 10, seed = 2024) on the incomplete data with pmm /
#                 polyreg / logreg, the event and nelsonaalen() as predictors (White &
#                 Royston 2009), pooled Cox: for a qualitative comparison only
# Usage: Rscript tests/reference/make_pool.R [outdir]
script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
source(file.path(script_dir, "common.R"))
suppressPackageStartupMessages(library(mice))

as_factors <- function(d) {
  d$n_metastases_group <- factor(d$n_metastases_group, levels = c("1", "2-3", ">=4"))
  d$laterality <- factor(d$laterality, levels = c("bilateral", "unilateral"))
  d$complete_resection <- factor(d$complete_resection == "True", levels = c(TRUE, FALSE))
  d
}
model <- Surv(os_months, os_event) ~ age + n_metastases_group + laterality + complete_resection

long <- as_factors(read.csv(file.path(script_dir, "data", "pool_imputed.csv"),
                            stringsAsFactors = FALSE, check.names = FALSE))
m <- max(long$imp)
fits <- lapply(seq_len(m), function(i) coxph(model, data = long[long$imp == i, ], ties = "efron"))
mira <- as.mira(fits)
pooled <- function(dfcom) {
  p <- if (is.null(dfcom)) pool(mira) else pool(mira, dfcom = dfcom)
  s <- summary(p, type = "all", conf.int = TRUE)
  out <- as.list(data.frame(s, check.names = FALSE))
  out$term <- as.character(out$term)
  out
}

scalar_q <- c(1.02, 0.87, 1.15, 0.95, 1.10, 0.99)
scalar_u <- c(0.041, 0.038, 0.045, 0.040, 0.043, 0.039)
sc <- pool.scalar(scalar_q, scalar_u, n = 120, k = 3)

# mice itself on the incomplete data (outcome in the imputation model)
inc <- as_factors(read.csv(file.path(script_dir, "data", "pool_incomplete.csv"),
                           stringsAsFactors = FALSE, check.names = FALSE))
inc$complete_resection[is.na(inc$complete_resection)] <- NA
inc$H <- nelsonaalen(inc, os_months, os_event)
meth <- make.method(inc)
pred <- make.predictorMatrix(inc)
pred[, "os_months"] <- 0
imp <- mice(inc, m = 20, maxit = 10, method = meth, predictorMatrix = pred, seed = 2024,
            printFlag = FALSE)
mfit <- with(imp, coxph(Surv(os_months, os_event) ~ age + n_metastases_group + laterality +
                          complete_resection))
ms <- summary(pool(mfit), conf.int = TRUE)
nmis <- colSums(is.na(inc))[c("age", "n_metastases_group", "laterality", "complete_resection")]

writeLines(toJSON(list(
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  mice_version = as.character(packageVersion("mice")),
  survival_version = as.character(packageVersion("survival")),
  fits = lapply(fits, function(f) list(coef = unname(coef(f)), vcov = unname(vcov(f)))),
  terms = names(coef(fits[[1]])),
  dfcom_default = mice:::get.dfcom(mira),
  pooled = list(default = pooled(NULL), dfcom_inf = pooled(Inf), dfcom_50 = pooled(50)),
  scalar = list(Q = scalar_q, U = scalar_u, qbar = sc$qbar, ubar = sc$ubar, b = sc$b,
                t = sc$t, df = sc$df, r = sc$r, fmi = sc$fmi),
  mice = list(method = as.list(meth), nmis = as.list(nmis),
              pooled = list(term = as.character(ms$term), estimate = ms$estimate,
                            std.error = ms$std.error, fmi = pool(mfit)$pooled$fmi))
), digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(outdir, "pool.json"))
