"""What `charmcraft pack` does for one platform, step by step, with charmcraft's and
craft-parts' own code, minus what this host cannot run (a managed or Ubuntu build
environment: craft-parts' lifecycle refuses to start without python-apt).

    charmcraft_steps.py plan PROJECT_DIR PLATFORM INSTALL_DIR
        JSON: the part's source (absolute), its build script (the part's override-build, or
        `craftctl default`, with `craftctl default` running the rust plugin's own build
        commands, as craft-parts runs them), the pull commands and build packages the
        plugin asks for, and the charm file name.

    charmcraft_steps.py pack PROJECT_DIR PLATFORM INSTALL_DIR WORK_DIR
        Organizes INSTALL_DIR (the part's install directory after its build) with the part's
        `organize`, stages and primes it with its `stage` and `prime` filesets, writes the
        files charmcraft generates (metadata.yaml, config.yaml, actions.yaml, manifest.yaml)
        into the prime directory with charmcraft's package service and zips it with
        charmcraft's `build_zip`. Prints the path of the .charm file.

Run with the Python of charmcraft's venv. The project must have exactly one part.
"""

import json
import pathlib
import sys
import tempfile

from craft_cli import EmitterMode, emit


def services(project_dir: pathlib.Path, platform: str):
    emit.init(
        EmitterMode.QUIET,
        "charmcraft",
        "charmcraft_steps",
        log_filepath=pathlib.Path(tempfile.mkdtemp()) / "charmcraft.log",
    )
    from charmcraft.application.main import create_app

    factory = create_app().services
    factory.update_kwargs("project", project_dir=project_dir)
    factory.get("project").configure(platform=platform, build_for=None)
    factory.get("build_plan").set_platforms(platform)
    return factory


def the_part(factory, work_dir: pathlib.Path):
    from craft_parts import plugins
    from craft_parts.dirs import ProjectDirs
    from craft_parts.parts import Part

    parts = factory.get("project").get().parts
    if len(parts) != 1:
        sys.exit(f"expected exactly one part, found {sorted(parts)}")
    [(name, spec)] = parts.items()
    plugin_name = spec.get("plugin") or name
    properties = plugins.get_plugin_class(plugin_name).properties_class.unmarshal(spec)
    common = plugins.extract_part_properties(spec, plugin_name=plugin_name)
    dirs = ProjectDirs(work_dir=work_dir)
    return Part(name, common, project_dirs=dirs, plugin_properties=properties), dirs


def plan(project_dir: pathlib.Path, platform: str, install_dir: pathlib.Path) -> None:
    from craft_parts import plugins
    from craft_parts.infos import PartInfo, ProjectInfo

    factory = services(project_dir, platform)
    work_dir = pathlib.Path(tempfile.mkdtemp())
    part, dirs = the_part(factory, work_dir)
    info = ProjectInfo(
        application_name="charmcraft",
        cache_dir=work_dir / "cache",
        arch="amd64",
        project_dirs=dirs,
    )
    plugin = plugins.get_plugin(
        part=part,
        part_info=PartInfo(info, part),
        properties=part.plugin_properties,
    )
    install = str(install_dir)
    default_build = "\n".join(plugin.get_build_commands()).replace(
        str(part.part_install_dir), install
    )
    environment = "".join(
        f'export {key}="{value}"\n' for key, value in plugin.get_build_environment().items()
    )
    # craft-parts' own stand-in for `craftctl default` where craftctl cannot reach it.
    script = (
        "set -euo pipefail\n"
        f'export CRAFT_PART_INSTALL="{install}"\n'
        + environment
        + "craftctl() {\n"
        '    if [ "${1-}" = default ]; then\n'
        f"{default_build}\n"
        "    else\n"
        '        echo "craftctl ${1-}: not simulated" >&2; return 1\n'
        "    fi\n"
        "}\n"
        + (part.spec.override_build or "craftctl default\n")
    )
    source = (project_dir / part.spec.source).resolve() if part.spec.source else None
    print(
        json.dumps(
            {
                "source": str(source) if source else None,
                "build_script": script,
                "pull_commands": plugin.get_pull_commands(),
                "build_packages": sorted(
                    set(part.spec.build_packages) | plugin.get_build_packages()
                ),
                "charm": factory.get("package").get_charm_name(),
            }
        )
    )


def pack(
    project_dir: pathlib.Path,
    platform: str,
    install_dir: pathlib.Path,
    work_dir: pathlib.Path,
) -> None:
    from craft_parts.executor import filesets
    from craft_parts.executor.filesets import Fileset
    from craft_parts.executor.migration import migrate_files
    from craft_parts.executor.organize import organize_files

    from charmcraft import utils

    factory = services(project_dir, platform)
    part, _ = the_part(factory, work_dir / "unused")
    organize_files(
        part_name=part.name,
        file_map=part.spec.organize_files,
        install_dir_map={None: install_dir},
        overwrite=False,
        default_partition="default",
    )
    stage_dir, prime_dir = work_dir / "stage", work_dir / "prime"
    stage = Fileset(part.spec.stage_files, name="stage")
    files, dirs = filesets.migratable_filesets(stage, install_dir, "default")
    migrate_files(files=files, dirs=dirs, srcdir=install_dir, destdir=stage_dir)
    # As craft-parts' `_builtin_prime`: no explicit includes means "what was staged".
    prime = Fileset(part.spec.prime_files, name="prime")
    if prime.entries == ["*"] or not prime.includes:
        prime.combine(stage)
    files, dirs = filesets.migratable_filesets(prime, stage_dir, "default")
    migrate_files(files=files, dirs=dirs, srcdir=stage_dir, destdir=prime_dir)

    package = factory.get("package")
    for name, content in [
        ("metadata.yaml", package.get_metadata_yaml(None)),
        ("config.yaml", package.get_config_yaml(None)),
        ("actions.yaml", package.get_actions_yaml(None)),
    ]:
        if content:
            (prime_dir / name).write_text(content)
    lint = list(factory.get("analysis").lint_directory(prime_dir, ignore=set()))
    manifest = package.get_manifest(lint, started_at="1980-01-01T00:00:00")
    (prime_dir / "manifest.yaml").write_text(package._render_manifest_yaml(manifest))
    charm = work_dir / package.get_charm_name()
    utils.build_zip(charm, prime_dir)
    print(charm)


def main() -> None:
    command, args = sys.argv[1], [pathlib.Path(a) for a in sys.argv[2:]]
    if command == "plan" and len(args) == 3:
        plan(args[0].resolve(), str(args[1]), args[2])
    elif command == "pack" and len(args) == 4:
        pack(args[0].resolve(), str(args[1]), args[2], args[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
