# The R side of benchmarks/bench_report.py: the work of the default metsurv report's core
# done with R survival, to time metsurv against (issue 12, item 8).
#
#     Rscript benchmarks/bench_report.R PATIENTS.csv OUTDIR
#
# The figures are drawn with survminer's ggsurvplot (risk table under the plot) when it is
# installed (Debian: apt-get install r-cran-survminer), as the issue's comparison asks;
# without it, or with BENCH_BASE_GRAPHICS=1, base graphics (graphics + grDevices) stand
# in: for each of the six factors of reports/irlm1997.yaml (complete_resection; dfi_group and
# n_metastases_group among complete resections; histology_group; irlm_group;
# nodal_status) a Kaplan-Meier figure with a number-at-risk table under it, 85 mm wide,
# saved as PNG (300 dpi), SVG and PDF; a univariable Cox model per factor and the
# multivariable study model (complete_resection, dfi_group, n_metastases_group,
# histology_group), cox.zph on it; and the survival table (n, events, median with 95% CI,
# 5-, 10- and 15-year survival with 95% CI, log-rank p per factor) written as CSV.
# Base graphics are much faster than ggplot2/survminer: bench_report.py prints which was
# used.
#
# The variables are derived as metsurv derives them (docs/domain): overall survival in
# years from metastasectomy to last follow-up (death = event), cut at 15 years; DFI in
# months from primary treatment to metastasis diagnosis (0-11, 12-35, >= 36); number of
# metastases (1, 2-3, >= 4); IRLM groups I-III among complete resections by the two risk
# factors (DFI < 36 months, more than one metastasis), IV incomplete resection.

suppressPackageStartupMessages(library(survival))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: Rscript bench_report.R PATIENTS.csv OUTDIR")
out <- args[2]
dir.create(file.path(out, "figures"), recursive = TRUE, showWarnings = FALSE)
dir.create(file.path(out, "tables"), recursive = TRUE, showWarnings = FALSE)

d <- read.csv(args[1], stringsAsFactors = FALSE)
day <- function(x) as.Date(x)
d$time <- as.numeric(day(d$last_followup_date) - day(d$metastasectomy_date)) / 365.25
d$status <- as.integer(d$vital_status == "dead")
d <- d[!is.na(d$time) & d$time >= 0, ]
cut_at <- 15
d$status[d$time > cut_at] <- 0L
d$time <- pmin(d$time, cut_at)

d$complete_resection <- factor(ifelse(d$resection_status == "R0", "Complete (R0)",
                                      "Incomplete (R1/R2)"),
                               levels = c("Complete (R0)", "Incomplete (R1/R2)"))
dfi <- as.numeric(day(d$metastasis_diagnosis_date) - day(d$primary_treatment_date)) /
  (365.25 / 12)
d$dfi_group <- cut(pmax(dfi, 0), c(-Inf, 12, 36, Inf), right = FALSE,
                   labels = c("DFI 0-11 mo", "DFI 12-35 mo", "DFI >=36 mo"))
d$dfi_group <- relevel(d$dfi_group, ref = "DFI >=36 mo")
d$n_metastases_group <- cut(d$n_metastases, c(-Inf, 1, 3, Inf),
                            labels = c("Single", "2-3", ">=4"))
d$histology_group <- factor(d$histology_group)
d$nodal_status <- factor(d$nodal_status)
risk <- (dfi < 36) + (d$n_metastases > 1)
d$irlm_group <- factor(ifelse(d$resection_status != "R0", "IV",
                              c("I", "II", "III")[risk + 1]),
                       levels = c("I", "II", "III", "IV"))
complete <- d[d$complete_resection == "Complete (R0)", ]

factors <- list(
  list(name = "complete_resection", data = d),
  list(name = "dfi_group", data = complete),
  list(name = "n_metastases_group", data = complete),
  list(name = "histology_group", data = d),
  list(name = "irlm_group", data = d),
  list(name = "nodal_status", data = d)
)

# ---- Kaplan-Meier figure with the number at risk under it (base graphics) -------------
km_plot <- function(fit, labels, title) {
  breaks <- seq(0, cut_at, by = 3)
  cols <- c("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")[
    seq_along(labels)]
  layout(matrix(1:2, ncol = 1), heights = c(3, 1.2))
  par(mar = c(3, 4.2, 1.6, 1.2), mgp = c(1.8, 0.5, 0), cex = 0.7, las = 1)
  plot(fit, col = cols, conf.int = TRUE, mark.time = TRUE, xlim = c(0, cut_at),
       xaxt = "n", xlab = "Years after pulmonary metastasectomy",
       ylab = "Overall survival", main = title, font.main = 1)
  axis(1, at = breaks)
  legend("topright", legend = labels, col = cols, lwd = 1.5, bty = "n")
  s <- summary(fit, times = breaks, extend = TRUE)
  strata <- if (is.null(s$strata)) rep(labels[1], length(s$time)) else
    sub("^[^=]*=", "", as.character(s$strata))
  par(mar = c(1, 4.2, 1, 1.2), xpd = NA)
  plot(NA, xlim = c(0, cut_at), ylim = c(0.5, length(labels) + 0.5), axes = FALSE,
       xlab = "", ylab = "", main = "Number at risk", font.main = 1, cex.main = 0.9)
  for (i in seq_along(labels)) {
    y <- length(labels) - i + 1
    keep <- strata == labels[i]
    text(s$time[keep], rep(y, sum(keep)), format(s$n.risk[keep], big.mark = ","),
         col = cols[i], cex = 0.8)
    mtext(labels[i], side = 2, at = y, las = 1, line = 1.2, cex = 0.5, col = cols[i])
  }
}

# survminer when it is installed (Debian: r-cran-survminer), as R users draw it:
# ggsurvplot with a risk table; base graphics otherwise (BENCH_BASE_GRAPHICS=1 forces them)
use_survminer <- Sys.getenv("BENCH_BASE_GRAPHICS") != "1" &&
  requireNamespace("survminer", quietly = TRUE)
if (use_survminer) suppressPackageStartupMessages(library(survminer))
cat("figures:", if (use_survminer) "survminer" else "base graphics", "\n")
draw <- function(fit, data, labels, title) {
  if (use_survminer) {
    labels <- gsub(">=", "\u2265", labels)  # a label starting ">" is a markdown quote there
    print(ggsurvplot(fit, data = data, risk.table = TRUE, conf.int = TRUE,
                     legend.labs = labels, title = title, xlim = c(0, cut_at),
                     break.time.by = 3, xlab = "Years after pulmonary metastasectomy",
                     ylab = "Overall survival", censor.size = 2, fontsize = 2.5,
                     risk.table.height = 0.3, ggtheme = theme_survminer(base_size = 7)))
  } else {
    km_plot(fit, labels, title)
  }
}

width_in <- 85 / 25.4
height_in <- width_in * 1.05
for (f in factors) {
  fit <- survfit(as.formula(paste("Surv(time, status) ~", f$name)), data = f$data)
  fit$call$formula <- as.formula(paste("Surv(time, status) ~", f$name))
  fit$call$data <- f$data
  labels <- sub("^[^=]*=", "", names(fit$strata))
  stem <- file.path(out, "figures", paste0("km_", f$name))
  png(paste0(stem, ".png"), width = width_in, height = height_in, units = "in", res = 300)
  draw(fit, f$data, labels, f$name)
  invisible(dev.off())
  svg(paste0(stem, ".svg"), width = width_in, height = height_in)
  draw(fit, f$data, labels, f$name)
  invisible(dev.off())
  pdf(paste0(stem, ".pdf"), width = width_in, height = height_in)
  draw(fit, f$data, labels, f$name)
  invisible(dev.off())
}

# ---- Cox models and the proportional-hazards test --------------------------------------
covariates <- c("complete_resection", "dfi_group", "n_metastases_group", "histology_group")
cox_rows <- list()
for (v in covariates) {
  m <- coxph(as.formula(paste("Surv(time, status) ~", v)), data = d)
  s <- summary(m)
  cox_rows[[v]] <- data.frame(model = "univariable", term = rownames(s$conf.int),
                              hr = s$conf.int[, 1], lower = s$conf.int[, 3],
                              upper = s$conf.int[, 4], p = s$coefficients[, 5])
}
multi <- coxph(as.formula(paste("Surv(time, status) ~",
                                paste(covariates, collapse = " + "))), data = d)
s <- summary(multi)
cox_rows[["multi"]] <- data.frame(model = "multivariable", term = rownames(s$conf.int),
                                  hr = s$conf.int[, 1], lower = s$conf.int[, 3],
                                  upper = s$conf.int[, 4], p = s$coefficients[, 5])
write.csv(do.call(rbind, cox_rows), file.path(out, "tables", "cox.csv"), row.names = FALSE)
zph <- cox.zph(multi, transform = "km")
write.csv(data.frame(term = rownames(zph$table), zph$table),
          file.path(out, "tables", "cox_ph_test.csv"), row.names = FALSE)

# ---- The survival table ----------------------------------------------------------------
rows <- list()
for (f in c(list(list(name = "1", data = d)), factors)) {
  fml <- as.formula(paste("Surv(time, status) ~", f$name))
  fit <- survfit(fml, data = f$data)
  tab <- summary(fit)$table
  if (is.null(dim(tab))) tab <- t(as.matrix(tab))
  at <- summary(fit, times = c(5, 10, 15), extend = TRUE)
  groups <- if (f$name == "1") "All patients" else sub("^[^=]*=", "", rownames(tab))
  strata <- if (is.null(at$strata)) rep(groups[1], length(at$time)) else
    sub("^[^=]*=", "", as.character(at$strata))
  p <- if (f$name == "1") NA else {
    sd <- survdiff(fml, data = f$data)
    pchisq(sd$chisq, length(sd$n) - 1, lower.tail = FALSE)
  }
  for (i in seq_along(groups)) {
    k <- strata == groups[i]
    rows[[length(rows) + 1]] <- data.frame(
      factor = f$name, group = groups[i], n = tab[i, "records"], events = tab[i, "events"],
      median = tab[i, "median"], median_lower = tab[i, "0.95LCL"],
      median_upper = tab[i, "0.95UCL"],
      s5 = at$surv[k][1], s5_lower = at$lower[k][1], s5_upper = at$upper[k][1],
      s10 = at$surv[k][2], s10_lower = at$lower[k][2], s10_upper = at$upper[k][2],
      s15 = at$surv[k][3], s15_lower = at$lower[k][3], s15_upper = at$upper[k][3],
      logrank_p = p)
  }
}
write.csv(do.call(rbind, rows), file.path(out, "tables", "survival.csv"), row.names = FALSE)
