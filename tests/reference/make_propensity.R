#!/usr/bin/env Rscript
# Reference values for metsurv.stats.propensity and metsurv.stats.balance (issue 13, items 1
# and 2): the propensity score of glm(family = binomial), stabilised IPTW (ATE, ATT) and
# overlap weights, Kish effective sample sizes, trimming and truncation, and the balance
# statistics of cobalt::bal.tab.
#
# cobalt and WeightIt are not installed here; their formulas are written out in base R:
#   weights  ATE  treated p/e, control (1-p)/(1-e)      (p = share treated; stabilised)
#            ATT  treated 1,   control e/(1-e) * (1-p)/p
#            overlap (ATO) treated 1-e, control e
#   ESS      (sum w)^2 / sum w^2 per group (cobalt / WeightIt ess)
#   truncation  pmin(w, quantile(w, q))                 (WeightIt::trim(at = q), one cap)
#   trimming    drop rows with ps outside [a, 1-a] (a = 0.25 here), ATE weights on the rows kept
#   SMD      (weighted mean treated - weighted mean control) / SD, with the SD of the
#            UNWEIGHTED groups: ATE/ATO pooled sqrt((v1 + v0)/2), ATT treated sqrt(v1);
#            binary columns standardized too (bal.tab binary = "std"), v = p(1-p);
#            continuous v = var() (n - 1 divisor)
#   variance ratio (continuous only): v1 / v0 with cobalt col_w_v's weighted variance
#            sum(w (x - m)^2) / (sum(w) - sum(w^2)/sum(w))
#   balance columns: numbers as they are, a logical its TRUE level, a two-level factor its
#            second level, a factor with more levels every level (cobalt::splitfactor).
#
# Input: 525 patients drawn (set.seed(1313)) from the bundled synthetic cohort
# data/synthetic/irlm1997/patients.csv: 170 VATS, 330 thoracotomy, 15 sternotomy (not in
# the compared levels) and 10 with no approach recorded; 12 ages set missing on top of the
# cohort's own missing n_metastases and laterality.
#
# Usage: Rscript tests/reference/make_propensity.R [outdir]
#   outdir defaults to the directory of this script. Writes <outdir>/data/propensity.csv
#   (the exact input Python reads) and <outdir>/propensity.json. Needs survival (common.R),
#   jsonlite and common.R beside it. Deterministic.

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
source(file.path(script_dir, "common.R"))

# ------------------------------------------------------------------ input
cohort <- read.csv(file.path(script_dir, "..", "..", "data", "synthetic", "irlm1997",
                             "patients.csv"), stringsAsFactors = FALSE, na.strings = "")
cols <- c("patient_id", "approach", "histology_group", "synchronous",
          "age_at_metastasectomy", "n_metastases", "laterality")
set.seed(1313)
take <- function(rows, k) rows[sample.int(length(rows), k)]
a <- cohort$approach
rows <- sort(c(take(which(a %in% "vats"), 170), take(which(a %in% "thoracotomy"), 330),
               take(which(a %in% "sternotomy"), 15), take(which(is.na(a)), 10)))
d <- cohort[rows, cols]
d$age_at_metastasectomy[sample.int(nrow(d), 12)] <- NA
rownames(d) <- NULL
invisible(write_input(d, "propensity"))
d <- read.csv(file.path(outdir, "data", "propensity.csv"), stringsAsFactors = FALSE,
              na.strings = "")

treatment <- "approach"
levels <- c("vats", "thoracotomy")
confounders <- c("histology_group", "synchronous", "age_at_metastasectomy", "n_metastases",
                 "laterality")

# ------------------------------------------------------------------ exclusions
left <- rep(TRUE, nrow(d))
excluded <- list()
drop <- function(mask, reason, column) {
  hit <- left & mask
  if (any(hit)) excluded[[length(excluded) + 1L]] <<- list(reason = reason, column = column,
                                                           n = sum(hit))
  left <<- left & !hit
}
drop(is.na(d[[treatment]]), "missing treatment", treatment)
drop(!(d[[treatment]] %in% levels), "treatment not in levels", treatment)
for (v in confounders) drop(is.na(d[[v]]), "missing confounder", v)
cc <- d[left, ]
cc$treated <- cc[[treatment]] == levels[1]
cc$synchronous <- cc$synchronous == "True"  # Python reads True/False as bool
# factor levels sorted as Python sorts strings (C locale)
for (v in c("histology_group", "laterality"))
  cc[[v]] <- factor(cc[[v]], levels = sort(unique(cc[[v]]), method = "radix"))

# ------------------------------------------------------------------ score
fit <- glm(treated ~ histology_group + synchronous + age_at_metastasectomy + n_metastases +
             laterality, family = binomial, data = cc)
co <- summary(fit)$coefficients
e <- unname(fitted(fit))
t <- cc$treated
p <- mean(t)

w_ate <- ifelse(t, p / e, (1 - p) / (1 - e))
w_att <- ifelse(t, 1, e / (1 - e) * (1 - p) / p)
w_ato <- ifelse(t, 1 - e, e)
ess <- function(w) c(treated = sum(w[t])^2 / sum(w[t]^2),
                     control = sum(w[!t])^2 / sum(w[!t]^2))
q <- 0.95
cap <- unname(quantile(w_ate, q))
w_trunc <- pmin(w_ate, cap)

# ------------------------------------------------------------------ balance (cobalt)
split_cols <- function(df) {
  out <- list()
  for (v in confounders) {
    x <- df[[v]]
    if (is.logical(x)) {
      out[[length(out) + 1L]] <- list(covariate = v, level = TRUE, binary = TRUE,
                                      x = as.numeric(x))
    } else if (is.factor(x)) {
      lev <- levels(x)
      shown <- if (length(lev) <= 2) lev[-1] else lev
      for (l in shown)
        out[[length(out) + 1L]] <- list(covariate = v, level = l, binary = TRUE,
                                        x = as.numeric(x == l))
    } else {
      out[[length(out) + 1L]] <- list(covariate = v, level = NA, binary = all(x %in% c(0, 1)),
                                      x = as.numeric(x))
    }
  }
  out
}
wmean <- function(x, w) sum(w * x) / sum(w)
wvar <- function(x, w, binary) {
  m <- wmean(x, w)
  if (binary) return(m * (1 - m))
  sum(w * (x - m)^2) / (sum(w) - sum(w^2) / sum(w))
}
bal <- function(df, tr, w, denom) {
  lapply(split_cols(df), function(col) {
    x <- col$x
    one <- rep(1, length(x))
    v1 <- wvar(x[tr], one[tr], col$binary)
    v0 <- wvar(x[!tr], one[!tr], col$binary)
    sd <- if (denom == "treated") sqrt(v1) else sqrt((v1 + v0) / 2)
    list(covariate = col$covariate, level = col$level,
         type = if (col$binary) "binary" else "continuous",
         smd_unweighted = (mean(x[tr]) - mean(x[!tr])) / sd,
         smd_weighted = (wmean(x[tr], w[tr]) - wmean(x[!tr], w[!tr])) / sd,
         vr_unweighted = if (col$binary) NA else v1 / v0,
         vr_weighted = if (col$binary) NA else
           wvar(x[tr], w[tr], FALSE) / wvar(x[!tr], w[!tr], FALSE))
  })
}
weighting <- function(w, denom, df = cc, tr = t)
  list(weights = w, ess = as.list(c(treated = sum(w[tr])^2 / sum(w[tr]^2),
                                    control = sum(w[!tr])^2 / sum(w[!tr]^2))),
       balance = bal(df, tr, w, denom))

# trimming at 0.25: rows kept, stabilised ATE weights with p of the rows kept
a_trim <- 0.25
keep <- e >= a_trim & e <= 1 - a_trim
kt <- t[keep]
ke <- e[keep]
kp <- mean(kt)
w_trim <- ifelse(kt, kp / ke, (1 - kp) / (1 - ke))

result <- list(
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  treatment = treatment, levels = levels, confounders = confounders,
  n = nrow(cc), excluded = excluded,
  patient_id = cc$patient_id,
  glm = list(terms = rownames(co), estimate = unname(co[, 1]), std_error = unname(co[, 2]),
             z = unname(co[, 3]), p = unname(co[, 4]), iterations = fit$iter,
             deviance = fit$deviance),
  ps = e,
  iptw_ate = weighting(w_ate, "pooled"),
  iptw_att = weighting(w_att, "treated"),
  overlap = weighting(w_ato, "pooled"),
  truncated = c(weighting(w_trunc, "pooled"), list(q = q, cap = cap, n = sum(w_ate > cap))),
  trimmed = c(weighting(w_trim, "pooled", cc[keep, ], kt),
              list(trim = a_trim, patient_id = cc$patient_id[keep],
                   n_treated = sum(!keep & t), n_control = sum(!keep & !t))))

writeLines(toJSON(result, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           file.path(outdir, "propensity.json"))
