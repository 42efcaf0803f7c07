#!/usr/bin/Rscript
# Reference values for tests/test_enrich.c from R's phyper and p.adjust (base R only).
#
#   enrich_sets.gmt       a tiny GMT: 14 sets over a universe of 300 gene symbols, with genes
#                         outside the universe (ignored and counted), a gene repeated within a
#                         set, empty fields from trailing tabs, a comment line and an empty line
#   enrich_universe.txt   the tested features ("SYMBOL|entrez", some symbols twice, one without
#                         '|') and whether each is selected (0/1)
#   enrich_expected.txt   for size limits 3..40 and 10..500: universe size, selected, per tested
#                         set (GMT order) size in universe, overlap, p = phyper(x - 1, m, n, k,
#                         lower.tail = FALSE) and BH q over the tested sets
#   enrich_phyper.txt     x m n k P(X >= x) over a grid, extreme tails included
#
# Usage: Rscript tools/gen_enrich_fixtures.R tests/fixtures
args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else "tests/fixtures"
set.seed(20240611)
fmt <- function(v) formatC(v, digits = 17, format = "g")

universe <- sprintf("G%03d", 1:300)
features <- sprintf("%s|%d", universe, 1000 + seq_along(universe))
# Duplicate symbols (another Entrez id, as in some TCGA tables) and a feature without '|'.
features <- c(features, "G005|99005", "G017|99017", "NOPIPE")
universe <- c(universe, "NOPIPE")
selected_syms <- c(sample(universe[1:60], 25), sample(universe[61:301], 20))
sel <- as.integer(sub("\\|.*$", "", features) %in% selected_syms)
# A duplicate-symbol feature selected while its twin is not: the symbol counts as selected.
sel[features == "G017|99017"] <- 1L
selected_syms <- unique(c(selected_syms, "G017"))

sets <- list(
  list("SET_ENRICHED", "mostly from the first 60", c(universe[1:30], "UNKNOWN1")),
  list("SET_RANDOM_A", "random", sample(universe, 35)),
  list("SET_RANDOM_B", "random with repeats", c(sample(universe, 20), "G003", "G003")),
  list("SET_TINY", "two genes: below min", universe[1:2]),
  list("SET_UNKNOWN", "only unknown genes", c("UNK_A", "UNK_B", "UNK_C")),
  list("SET_THREE", "three genes", c("G001", "G002", "G100", "NOT_A_GENE")),
  list("SET_BIG", "above 40", sample(universe, 120)),
  list("SET_HUGE", "above 40", universe),
  list("SET_MID", "mid", sample(universe[1:150], 45)),
  list("SET_LOW", "unselected", setdiff(universe, selected_syms)[1:25]),
  list("SET_ALLSEL", "all selected", selected_syms[1:12]),
  list("SET_DUPSYM", "duplicate-symbol genes", c("G005", "G017", sample(universe, 10))),
  list("SET_ELEVEN", "eleven", sample(universe, 11)),
  list("SET_FORTY", "exactly forty", sample(universe, 40))
)

gmt <- file.path(outdir, "enrich_sets.gmt")
con <- file(gmt, "w")
writeLines("# comment line: skipped", con)
for (i in seq_along(sets)) {
  s <- sets[[i]]
  line <- paste(c(s[[1]], s[[2]], s[[3]]), collapse = "\t")
  if (i == 3) line <- paste0(line, "\t\t")
  writeLines(line, con)
  if (i == 5) writeLines("", con)
}
close(con)

con <- file(file.path(outdir, "enrich_universe.txt"), "w")
writeLines(sprintf("%s %d", features, sel), con)
close(con)

uni <- unique(sub("\\|.*$", "", features))
N <- length(uni)
K <- length(intersect(uni, selected_syms))
con <- file(file.path(outdir, "enrich_expected.txt"), "w")
for (lim in list(c(3, 40), c(10, 500))) {
  g <- lapply(sets, function(s) unique(intersect(s[[3]], uni)))
  sz <- sapply(g, length)
  tested <- which(sz >= lim[1] & sz <= lim[2])
  ov <- sapply(g, function(x) sum(x %in% selected_syms))
  p <- phyper(ov[tested] - 1, sz[tested], N - sz[tested], K, lower.tail = FALSE)
  q <- p.adjust(p, "BH")
  unknown <- sum(sapply(sets, function(s) sum(!(s[[3]] %in% uni))))
  writeLines(sprintf("limits %d %d universe %d selected %d tested %d skipped %d unknown %d",
                     lim[1], lim[2], N, K, length(tested), length(sets) - length(tested),
                     unknown), con)
  for (j in seq_along(tested)) {
    i <- tested[j]
    writeLines(paste(sets[[i]][[1]], sz[i], ov[i], fmt(p[j]), fmt(q[j])), con)
  }
}
close(con)

grid <- expand.grid(x = c(0, 1, 2, 5, 10, 30, 80), m = c(1, 15, 100, 500),
                    n = c(40, 1000, 19500), k = c(1, 20, 300, 2000))
grid <- grid[grid$k <= grid$m + grid$n, ]
grid$p <- phyper(grid$x - 1, grid$m, grid$n, grid$k, lower.tail = FALSE)
con <- file(file.path(outdir, "enrich_phyper.txt"), "w")
writeLines(sprintf("# x m n k P(X >= x) = phyper(x - 1, m, n, k, lower.tail = FALSE), %s",
                   R.version.string), con)
writeLines(paste(grid$x, grid$m, grid$n, grid$k, fmt(grid$p)), con)
close(con)
