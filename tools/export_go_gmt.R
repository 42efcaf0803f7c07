#!/usr/bin/Rscript
# Exports the Gene Ontology as GMT files (one per ontology: go_bp.gmt, go_mf.gmt, go_cc.gmt) for
# offline enrichment (include/ovq/enrich.h), from Bioconductor's annotation packages as Debian
# ships them: apt-get install r-bioc-org.hs.eg.db r-bioc-go.db.
#
# Line format: GO id <TAB> term name <TAB> gene symbols (HGNC, as org.Hs.eg.db maps Entrez ids).
# Genes are annotated to a term and all its ancestors (org.Hs.egGO2ALLEGS: the true-path rule, as
# MSigDB's C5 sets), so a set holds every gene under the term. Terms are written in GO id order
# and genes sorted, so the output is reproducible for one package version. The package versions
# go into a comment line at the top (the reader skips lines starting with '#').
#
# Usage: Rscript tools/export_go_gmt.R OUTDIR [--no-iea]
#   --no-iea  leave out electronic annotations (evidence code IEA)
# The files are tens of MB: keep them out of the repository.
suppressPackageStartupMessages({
  library(AnnotationDbi)
  library(org.Hs.eg.db)
  library(GO.db)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 1) stop("usage: Rscript tools/export_go_gmt.R OUTDIR [--no-iea]")
outdir <- args[1]
no_iea <- "--no-iea" %in% args[-1]
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)

# term -> Entrez ids, each named by its evidence code
go2eg <- as.list(org.Hs.egGO2ALLEGS)
if (no_iea) go2eg <- lapply(go2eg, function(g) g[names(g) != "IEA"])
sym <- unlist(as.list(org.Hs.egSYMBOL))
ids <- sort(names(go2eg))
ont <- AnnotationDbi::Ontology(ids)
term <- AnnotationDbi::Term(ids)
header <- sprintf("# GO gene sets from org.Hs.eg.db %s and GO.db %s%s",
                  as.character(packageVersion("org.Hs.eg.db")),
                  as.character(packageVersion("GO.db")),
                  if (no_iea) ", IEA annotations left out" else "")

for (o in c("BP", "MF", "CC")) {
  path <- file.path(outdir, sprintf("go_%s.gmt", tolower(o)))
  keep <- ids[!is.na(ont) & ont == o]
  lines <- vapply(keep, function(id) {
    genes <- sort(unique(sym[unique(go2eg[[id]])]))
    genes <- genes[!is.na(genes)]
    if (length(genes) == 0) return(NA_character_)
    # Tabs or line breaks in a term name would break the format.
    name <- gsub("[\t\r\n]", " ", term[[id]])
    paste(c(id, name, genes), collapse = "\t")
  }, character(1))
  lines <- lines[!is.na(lines)]
  writeLines(c(header, lines), path)
  message(sprintf("%s: %d sets", path, length(lines)))
}
