module github.com/technosophos/moniker

go 1.26.0
