#!/usr/bin/env Rscript
# Term labels R gives for model formulas: the oracle of metsurv.stats.formula.parse_formula.
#
# Usage: Rscript tests/reference/make_formula_terms.R [outdir]
#   Writes <outdir>/formula_terms.json (outdir defaults to this script's directory).
# Needs survival (for strata()/cluster() as coxph sees them) and jsonlite. Deterministic.
#
# For every formula: attr(terms(f, specials = c("strata", "cluster")), "term.labels") with
# the strata()/cluster() terms taken out, as coxph takes them out of the design; the
# variables inside strata() and cluster() terms; the response variables inside Surv().
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else script_dir

# hand-picked: every operator, R's order of interaction terms, strata/cluster, intercepts
hand <- c(
  "Surv(os_months, os_event) ~ complete_resection + dfi_group * age + strata(center)",
  "Surv(t, e) ~ a * b",
  "Surv(t, e) ~ (a + b + c)^2",
  "Surv(t, e) ~ a:b:c",
  "Surv(t, e) ~ a * b * c",
  "Surv(t, e) ~ c + b:a + a",
  "Surv(t, e) ~ a:b + a",
  "Surv(t, e) ~ b + a:b + a",
  "Surv(t, e) ~ a * b - a",
  "Surv(t, e) ~ a + b - 1",
  "Surv(t, e) ~ a + b + 0",
  "Surv(t, e) ~ 0 + a",
  "Surv(t, e) ~ a / b",
  "Surv(t, e) ~ (a + b) * (c + d)",
  "Surv(t, e) ~ a:b + c * d",
  "Surv(t, e) ~ (a + b):c",
  "Surv(t, e) ~ a * b + b * c",
  "Surv(t, e) ~ b:a + a:b",
  "Surv(t, e) ~ a + a",
  "Surv(t, e) ~ (a + b + c)^3 - a:b:c",
  "Surv(t, e) ~ (a + b + c + d)^2 - (a + b):c",
  "Surv(start, stop, event) ~ x + cluster(id)",
  "Surv(t, e) ~ x + strata(g1, g2)",
  "Surv(t, e) ~ strata(g) + x * y + strata(h)",
  "Surv(t, e) ~ 1",
  "Surv(t, e) ~ strata(g)",
  "Surv(t, e) ~ factor(x) * y"
)

# random: formulas over five variables built from + * : / ^ - and parentheses
set.seed(20240901)
vars <- c("a", "b", "c", "d", "e2")
random_rhs <- function(depth) {
  if (depth == 0 || runif(1) < 0.3) return(sample(vars, 1))
  op <- sample(c("+", "+", "*", ":", "/", "^", "-"), 1)
  if (op == "^") return(sprintf("(%s)^%d", random_rhs(depth - 1), sample(1:3, 1)))
  out <- paste(random_rhs(depth - 1), op, random_rhs(depth - 1))
  if (runif(1) < 0.5) sprintf("(%s)", out) else out
}
random <- unique(vapply(seq_len(150), function(i) paste("Surv(t, e) ~", random_rhs(4)), ""))

describe <- function(text, kind) {
  f <- as.formula(text)
  tt <- tryCatch(terms(f, specials = c("strata", "cluster")), error = function(e) e)
  # a formula R refuses: metsurv must refuse it too (ValueError)
  if (inherits(tt, "error")) return(list(formula = text, kind = kind, error = conditionMessage(tt)))
  labels <- attr(tt, "term.labels")
  special <- grepl("^(strata|cluster)\\(", labels)
  inside <- function(prefix) {
    lab <- labels[startsWith(labels, prefix)]
    unlist(lapply(lab, function(l) all.vars(str2lang(l))))
  }
  list(formula = text, kind = kind,
       term_labels = I(labels[!special]),
       strata = I(as.character(inside("strata("))),
       cluster = I(as.character(inside("cluster("))),
       response = I(all.vars(f[[2]])),
       intercept = attr(tt, "intercept"))
}

out <- list(
  r_version = R.version.string,
  survival_version = as.character(packageVersion("survival")),
  call = 'attr(terms(f, specials = c("strata", "cluster")), "term.labels")',
  formulas = c(lapply(hand, describe, kind = "hand"),
               lapply(random, describe, kind = "random")))
writeLines(toJSON(out, auto_unbox = TRUE, pretty = TRUE),
           file.path(outdir, "formula_terms.json"))
