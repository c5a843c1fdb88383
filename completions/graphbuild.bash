# bash completion for graphbuild                          -*- shell-script -*-
# Install: copy to /usr/share/bash-completion/completions/graphbuild, or
# `source completions/graphbuild.bash` from ~/.bashrc. Needs only bash.
#
# Completes commands, options, --progress / --format values, and node names:
# services for `up` and `logs`, images, rootfs bases and services for `plan`,
# `build` and `graph`, images and rootfs bases after --rebuild=. Names come
# from `graphbuild graph --format text` (first word: image, rootfs, ref or
# service; second: the name), run with the -f/--file/-C/--set/--secret of the
# line being completed.
#
# The line is re-split on blanks from COMP_LINE (so `--set k=v` and
# `--progress=plain` stay one word whatever COMP_WORDBREAKS says); replies are
# trimmed to the part bash replaces.

_graphbuild() {
	local commands="plan build up down ps logs import graph gc"
	local common="-f --file -C --set --secret --base --json --progress --request-timeout -j --jobs --fail-fast --rebuild --rebuild= --profile --print-path --version --help"
	local line words=() cur prev cmd= cmdi=0 i w opts
	COMPREPLY=()

	if [[ -n ${COMP_LINE+x} ]]; then
		line=${COMP_LINE:0:${COMP_POINT:-${#COMP_LINE}}}
	else # called by hand with only COMP_WORDS/COMP_CWORD set
		line="${COMP_WORDS[*]:0:COMP_CWORD+1}"
	fi
	read -ra words <<<"$line"
	if [[ -z $line || $line == *[[:blank:]] ]]; then words+=(""); fi
	cur=${words[${#words[@]} - 1]}
	prev=${words[${#words[@]} - 2]:-}

	# the command: the first word that is neither an option nor its value
	local n=$((${#words[@]} - 1))
	for ((i = 1; i < n; i++)); do
		w=${words[i]}
		case $w in
		-C | --file | --set | --secret | --base | -j | --jobs | --progress | --request-timeout | --format | --keep | -t | --timeout | --since | --profile | -o)
			((i++)) ;;
		-f)
			[[ $cmd == logs ]] || ((i++)) ;;
		-*) ;;
		*)
			[[ -z $cmd ]] && cmd=$w cmdi=$i ;;
		esac
	done

	_graphbuild_nodes() { # KIND...: the names of these kinds in the stack of this line
		local gb=${words[0]} j k kind name a=()
		for ((j = 1; j < n; j++)); do
			case ${words[j]} in
			-C | --file | --set | --secret | --base | --profile)
				a+=("${words[j]}" "${words[j + 1]}"); ((j++)) ;;
			-f)
				[[ $cmd == logs && $j -gt $cmdi ]] || { a+=(-f "${words[j + 1]}"); ((j++)); } ;;
			esac
		done
		gb=${gb/#\~/$HOME}
		command -v "$gb" >/dev/null 2>&1 || gb=graphbuild
		"$gb" "${a[@]}" graph --format text 2>/dev/null </dev/null |
			while read -r kind name _; do
				for k in "$@"; do [[ $kind == "$k" ]] && printf '%s\n' "$name"; done
			done | sort -u
	}

	case $prev in
	--progress)
		COMPREPLY=($(compgen -W "auto tty plain quiet" -- "$cur")) ;;
	--format)
		COMPREPLY=($(compgen -W "text dot mermaid" -- "$cur")) ;;
	-C)
		COMPREPLY=($(compgen -d -- "$cur")) ;;
	--file)
		COMPREPLY=($(compgen -f -- "$cur")) ;;
	-f)
		[[ $cmd == logs ]] || COMPREPLY=($(compgen -f -- "$cur")) ;;
	-o)
		COMPREPLY=($(compgen -f -- "$cur")) ;;
	-j | --jobs | --keep | -t | --timeout | --since | --set | --secret | --base | --profile)
		return 0 ;;
	esac

	if [[ ${#COMPREPLY[@]} -eq 0 ]]; then
		case $cur in
		--progress=*)
			COMPREPLY=($(compgen -P "--progress=" -W "auto tty plain quiet" -- "${cur#--progress=}")) ;;
		--format=*)
			COMPREPLY=($(compgen -P "--format=" -W "text dot mermaid" -- "${cur#--format=}")) ;;
		--rebuild=*)
			local list=${cur#--rebuild=} last
			last=${list##*,}
			list=${list%"$last"}
			COMPREPLY=($(compgen -P "--rebuild=$list" -W "$(_graphbuild_nodes image rootfs)" -- "$last")) ;;
		-*)
			case $cmd in
			'') opts=$common ;;
			plan) opts="--json --rebuild --rebuild= --cache" ;;
			build) opts="-j --jobs --fail-fast --rebuild --rebuild= --progress --cache --push --json" ;;
			up) opts="--no-wait --rebuild --rebuild= --recreate-deps --remove-orphans --no-remove-orphans -j --jobs --fail-fast -t --timeout --progress --cache --push" ;;
			down) opts="--volumes -v -t --timeout" ;;
			ps) opts="--json" ;;
			logs) opts="-f --follow --since" ;;
			graph) opts="--format --format=" ;;
			import) opts="-o --force" ;;
			gc) opts="--keep" ;;
			esac
			[[ -n $cmd ]] && opts="$opts --file -C --set --secret --base --profile --help"
			[[ -n $cmd && $cmd != logs ]] && opts="$opts -f"
			COMPREPLY=($(compgen -W "$opts" -- "$cur")) ;;
		*)
			case $cmd in
			'') COMPREPLY=($(compgen -W "$commands" -- "$cur")) ;;
			up | logs) COMPREPLY=($(compgen -W "$(_graphbuild_nodes service)" -- "$cur")) ;;
			plan | build | graph) COMPREPLY=($(compgen -W "$(_graphbuild_nodes image rootfs service)" -- "$cur")) ;;
			esac ;;
		esac
	fi
	unset -f _graphbuild_nodes

	# a reply ending in '=' or ',' takes more text: no space after it
	if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *[=,] ]]; then
		compopt -o nospace 2>/dev/null
	fi
	# bash replaces only its own current word (it splits at COMP_WORDBREAKS,
	# e.g. after '='): drop the part of ours before it
	if [[ -n ${COMP_WORDS+x} && ${#COMP_WORDS[@]} -gt 0 ]]; then
		local bcur=${COMP_WORDS[COMP_CWORD]} pre
		if [[ $cur == *"$bcur" ]]; then
			pre=${cur%"$bcur"}
			[[ -n $pre ]] && COMPREPLY=("${COMPREPLY[@]#"$pre"}")
		fi
	fi
	return 0
}

complete -F _graphbuild graphbuild
