#!/usr/bin/env Rscript
# Reference values for metsurv.report.tables.table1's SMD and p-value columns (issue 12,
# Table 1 as gtsummary makes it: add_difference(test = everything() ~ "smd") / add_p()).
#
# SMD, written out in base R (tableone and smd are not installed here; these are their
# formulas, tableone:::StdDiff / StdDiffMulti and smd::smd):
#   number:   |mean1 - mean2| / sqrt((var1 + var2) / 2)       (sample variances)
#   category: sqrt(T' S^- T), Yang & Dalton 2012: T = p1 - p2 over the levels but the
#             first, S = (S1 + S2) / 2 with Sk = diag(pk) - pk pk', S^- the Moore-Penrose
#             inverse (MASS::ginv, written out below), over patients with a value.
# p-values: chisq.test (Yates for 2 x 2) or, when an expected count is below 5,
# fisher.test; wilcox.test (two groups; R's own choice of exact / normal approximation with
# continuity correction) or kruskal.test.
#
# Usage: Rscript tests/reference/make_table1_smd.R [outdir]
#   outdir defaults to the directory of this script. Writes <outdir>/data/table1_smd.csv
#   (the exact input Python reads) and <outdir>/table1_smd.json. Needs jsonlite and
#   common.R beside it. Deterministic.

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
source(file.path(script_dir, "common.R"))

# ------------------------------------------------------------------ input
set.seed(1205)
n <- 70
pick <- function(levels, prob, n) sample(levels, n, replace = TRUE, prob = prob)
with_na <- function(x, k) { x[sample(seq_along(x), k)] <- NA; x }
d <- data.frame(
  g2 = with_na(pick(c("A", "B"), c(0.55, 0.45), n), 2),
  g3 = pick(c("X", "Y", "Z"), c(0.4, 0.35, 0.25), n),
  # a number with ties (normal approximation) and one without (exact below 50 per group)
  x_ties = with_na(round(rnorm(n, 50, 10)), 3),
  x_unique = round(rexp(n, 0.1) + seq_len(n) * 1e-4, 6),
  # three levels, none rare: chi-square
  cat3 = pick(c("lo", "mid", "hi"), c(0.35, 0.35, 0.30), n),
  # four levels, two rare: Fisher's exact r x c
  cat_sparse = with_na(pick(c("common", "usual", "rare", "rarer"), c(0.5, 0.35, 0.1, 0.05), n), 2),
  # yes/no, one rare: Fisher's exact 2 x 2; and one balanced: chi-square with Yates
  bin_rare = pick(c("yes", "no"), c(0.1, 0.9), n),
  bin_even = pick(c("yes", "no"), c(0.5, 0.5), n),
  stringsAsFactors = FALSE)
invisible(write_input(d, "table1_smd"))
# read back as Python reads it: an empty field is a missing value
d <- read.csv(file.path(outdir, "data", "table1_smd.csv"), stringsAsFactors = FALSE,
              na.strings = "")

# ------------------------------------------------------------------ formulas
ginv <- function(X, tol = sqrt(.Machine$double.eps)) {  # MASS::ginv
  s <- svd(X)
  keep <- s$d > max(tol * s$d[1L], 0)
  if (!any(keep)) return(array(0, dim(X)[2:1]))
  s$v[, keep, drop = FALSE] %*% ((1 / s$d[keep]) * t(s$u[, keep, drop = FALSE]))
}

smd_number <- function(a, b) abs(mean(a) - mean(b)) / sqrt((var(a) + var(b)) / 2)

smd_category <- function(a, b) {
  lev <- sort(unique(c(a, b)))
  pa <- as.numeric(table(factor(a, lev))) / length(a)
  pb <- as.numeric(table(factor(b, lev))) / length(b)
  pa <- pa[-1]; pb <- pb[-1]
  tt <- pa - pb
  s <- (diag(pa, length(pa)) - pa %o% pa + diag(pb, length(pb)) - pb %o% pb) / 2
  sqrt(drop(t(tt) %*% ginv(s) %*% tt))
}

numbers <- c("x_ties", "x_unique")
cases <- list()
for (by in c("g2", "g3")) {
  for (v in c(numbers, "cat3", "cat_sparse", "bin_rare", "bin_even")) {
    keep <- !is.na(d[[by]]) & !is.na(d[[v]])
    x <- d[[v]][keep]; g <- d[[by]][keep]
    groups <- sort(unique(g))
    out <- list(by = by, variable = v)
    if (v %in% numbers) {
      if (length(groups) == 2) {
        a <- x[g == groups[1]]; b <- x[g == groups[2]]
        out$smd <- smd_number(a, b)
        w <- suppressWarnings(wilcox.test(a, b))
        out$p <- w$p.value
        out$test <- "Wilcoxon rank-sum test"
        out$exact <- grepl("exact", w$method) && !grepl("continuity", w$method)
      } else {
        out$p <- kruskal.test(x, factor(g))$p.value
        out$test <- "Kruskal-Wallis test"
      }
    } else {
      tab <- table(x, g)
      if (length(groups) == 2) out$smd <- smd_category(x[g == groups[1]], x[g == groups[2]])
      expected <- suppressWarnings(chisq.test(tab)$expected)
      if (any(expected < 5)) {
        out$p <- fisher.test(tab)$p.value
        out$test <- "Fisher's exact test"
      } else {
        out$p <- chisq.test(tab)$p.value
        out$test <- "Pearson's chi-square test"
      }
    }
    cases[[length(cases) + 1L]] <- out
  }
}

writeLines(toJSON(list(r_version = paste(R.version$major, R.version$minor, sep = "."),
                       cases = cases), auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(outdir, "table1_smd.json"))
