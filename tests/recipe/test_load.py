from pathlib import Path

import pytest

from trtbuild.errors import RecipeError
from trtbuild.recipe import find_recipes, load_recipe

BASE = """
[model]
factory = "tiny_models:convnet"
[[inputs]]
name = "x"
shape = [1, 3, 7, 7]
"""


def write(folder: Path, text: str, name: str = "r.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def error_of(path: Path) -> RecipeError:
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    return info.value


def test_minimal_recipe_defaults(tmp_path):
    recipe = load_recipe(write(tmp_path, BASE))
    assert recipe.display_name == "r"
    assert recipe.settings.min_block_size == 5 and recipe.settings.enabled_precisions == ("float32",)
    [spec] = recipe.compile_inputs()
    assert spec.shape == (1, 3, 7, 7) and spec.dtype == "float32"


def test_unknown_field_suggests_the_close_name(tmp_path):
    error = error_of(write(tmp_path, BASE + "[settings]\nmin_blok_size = 3\n"))
    assert str(error) == (f"{tmp_path / 'r.toml'}: settings.min_blok_size: unknown field 'min_blok_size'; "
                          "did you mean 'min_block_size'?")


def test_wrong_type_names_field_path(tmp_path):
    error = error_of(write(tmp_path, BASE.replace("[1, 3, 7, 7]", '[1, 3, 7, "x"]')))
    assert error.field == "inputs[0].shape[3]" and "'x' is not defined in [dims]" in str(error)


def test_malformed_toml_names_file(tmp_path):
    error = error_of(write(tmp_path, "[model\nfactory = 1"))
    assert str(error).startswith(f"{tmp_path / 'r.toml'}: invalid TOML")


def test_factory_and_program_are_exclusive(tmp_path):
    error = error_of(write(tmp_path, BASE.replace('factory = "tiny_models:convnet"',
                                                  'factory = "a:b"\nprogram = "m.pt2"')))
    assert error.field == "model" and "exactly one of 'factory' or 'program'" in str(error)


def test_named_dims_resolve_to_ranges(tmp_path):
    text = """
[model]
factory = "m:f"
[dims]
batch = { min = 1, opt = 4, max = 8 }
[[inputs]]
name = "ids"
dtype = "int64"
shape = ["batch", 16]
range = [0, 100]
[[inputs]]
name = "mask"
dtype = "int64"
shape = ["batch", 16]
"""
    ids, mask = load_recipe(write(tmp_path, text)).compile_inputs()
    assert ids.min_shape == (1, 16) and ids.opt_shape == (4, 16) and ids.max_shape == (8, 16)
    assert ids.dim_names == {0: "batch"} == mask.dim_names and ids.value_range == (0, 100)


def test_folder_defaults_are_inherited_and_overridden(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "trtbuild.toml").write_text("[settings]\nmin_block_size = 2\nworkspace_size = 1024\n")
    sub = tmp_path / "models"
    sub.mkdir()
    (sub / "trtbuild.toml").write_text("[settings]\nmin_block_size = 3\n")
    recipe = load_recipe(write(sub, BASE + "[settings]\nworkspace_size = 2048\n"))
    assert recipe.settings.min_block_size == 3 and recipe.settings.workspace_size == 2048


def test_defaults_reject_recipe_only_sections(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "trtbuild.toml").write_text("[modle]\nfactory = 'x:y'\n")
    error = error_of(write(tmp_path, BASE))
    assert error.path.endswith("trtbuild.toml") and "unknown section for defaults 'modle'" in str(error)


def test_find_recipes_expands_folders_and_globs(tmp_path):
    write(tmp_path, BASE, "a.toml")
    write(tmp_path, BASE, "b.toml")
    (tmp_path / "trtbuild.toml").write_text("")
    assert [p.name for p in find_recipes([str(tmp_path)])] == ["a.toml", "b.toml"]
    assert [p.name for p in find_recipes([str(tmp_path / "a*.toml")])] == ["a.toml"]
    with pytest.raises(RecipeError, match="no recipes found"):
        find_recipes([str(tmp_path / "zzz*.toml")])


def test_folder_defaults_can_name_each_recipes_output_dir(tmp_path):
    from trtbuild.make import output_dir

    (tmp_path / ".git").mkdir()
    (tmp_path / "trtbuild.toml").write_text('[output]\ndir = "build/zoo/{name}"\n')
    assert output_dir(load_recipe(write(tmp_path, BASE, "a.toml")), None).as_posix() == "build/zoo/a"
    assert output_dir(load_recipe(write(tmp_path, BASE, "b.toml")), "out").as_posix() == "out/b"
