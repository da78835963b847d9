#!/usr/bin/env Rscript
# Reference values for metsurv.stats.cox.zph_smooth / zph_time_axis: what R survival's
# plot.cox.zph(cox.zph(fit, transform), resid = TRUE, se = TRUE, df = 4, nsmo = 40) draws
# for each term (the smooth yhat, its band yup/ylow on the grid pred.x) and where it puts
# its x-axis labels. Captured from survival:::plot.cox.zph itself, run with lines(),
# axis(), plot() and points() replaced by recorders, so the numbers are R's own.
#
# Usage: Rscript tests/reference/make_zph_smooth.R [outdir]
#   outdir defaults to the directory of this script. Writes <outdir>/data/zph_smooth_*.csv
#   (the exact inputs Python reads) and <outdir>/zph_smooth.json.
# Needs survival, jsonlite and common.R beside it. Deterministic.

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
source(file.path(script_dir, "common.R"))

# ------------------------------------------------------------------ inputs
l <- survival::lung
l <- l[!is.na(l$ph.ecog), ]
lung_in <- write_input(data.frame(
  time = l$time, event = l$status - 1L, sex_f = ifelse(l$sex == 1, "male", "female"),
  age = l$age, ecog3 = paste0("e", pmin(l$ph.ecog, 2))), "zph_smooth_lung")
v <- survival::veteran
vet_in <- write_input(data.frame(
  time = v$time, event = v$status, trt = v$trt, celltype = as.character(v$celltype),
  karno = v$karno, age = v$age,
  karno_t1 = ifelse(v$trt == 1, v$karno, 0L)), "zph_smooth_veteran")

# ------------------------------------------------------------------ cases
# name, data, formula right-hand side, transform (the Python test mirrors this list)
cases <- list(
  list(name = "lung_sex_age_km", data = "zph_smooth_lung", rhs = "sex_f + age",
       transform = "km"),
  list(name = "lung_ecog3_km", data = "zph_smooth_lung", rhs = "ecog3 + age",
       transform = "km"),
  list(name = "veteran_celltype_karno_km", data = "zph_smooth_veteran",
       rhs = "celltype + karno", transform = "km"),
  list(name = "veteran_strata_identity", data = "zph_smooth_veteran",
       rhs = "karno + age + strata(trt)", transform = "identity"),
  # karno_t1 is constant in stratum trt 2: its residuals there are NA (left out of the fit)
  list(name = "veteran_strata_partial_km", data = "zph_smooth_veteran",
       rhs = "karno_t1 + age + strata(trt)", transform = "km"),
  list(name = "lung_age_log", data = "zph_smooth_lung", rhs = "age + sex_f",
       transform = "log"),
  list(name = "lung_age_rank", data = "zph_smooth_lung", rhs = "age + ecog3",
       transform = "rank")
)
inputs <- list(zph_smooth_lung = lung_in, zph_smooth_veteran = vet_in)

# plot.cox.zph with its drawing calls recorded instead of drawn
recorded <- function(z, i) {
  rec <- new.env()
  rec$lines <- list(); rec$axis <- NULL
  f <- survival:::plot.cox.zph
  env <- new.env(parent = environment(f))
  env$lines <- function(x, y, ...) rec$lines[[length(rec$lines) + 1]] <- list(x = x,
                                                                               y = drop(y))
  env$axis <- function(side, at, labels, ...) rec$axis <- list(at = at, labels = labels)
  env$plot <- function(...) invisible(NULL)
  env$points <- function(...) invisible(NULL)
  environment(f) <- env
  f(z, var = i)
  stopifnot(length(rec$lines) == 3)
  keep <- !is.na(rec$axis$at)
  list(term = colnames(z$y)[i], pred_x = rec$lines[[1]]$x, yhat = rec$lines[[1]]$y,
       yup = rec$lines[[2]]$y, ylow = rec$lines[[3]]$y, var = z$var[i, i],
       axis_at = if (is.null(rec$axis)) list() else rec$axis$at[keep],
       axis_labels = if (is.null(rec$axis)) list() else rec$axis$labels[keep])
}

result <- function(cs) {
  d <- inputs[[cs$data]]
  fit <- coxph(as.formula(paste("Surv(time, event) ~", cs$rhs)), data = d)
  z <- cox.zph(fit, transform = cs$transform)
  list(name = cs$name, data = cs$data, rhs = cs$rhs, transform = cs$transform,
       terms = lapply(seq_len(ncol(z$y)), function(i) recorded(z, i)))
}

out <- list(survival_version = as.character(packageVersion("survival")),
            cases = lapply(cases, result))
write_json(out, file.path(outdir, "zph_smooth.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, na = "null", null = "null")
