"""refquant.nested, edge by edge (mutation testing, docs/testing.md): each assertion here fails
on one mutant of nested.py that the op tests did not notice."""

from fractions import Fraction

from refquant import nested


def test_shape_reads_along_the_first_elements():
    assert nested.shape(7) == ()
    assert nested.shape(Fraction(1, 3)) == ()
    assert nested.shape([]) == (0,)
    assert nested.shape([[], []]) == (2, 0)
    assert nested.shape([[1, 2, 3]]) == (1, 3)             # a one-element list: x[0], not x[1]
    assert nested.shape([[1], [2, 3]]) == (2, 1)           # ragged: the first element decides
    assert nested.shape(((1, 2), (3, 4), (5, 6))) == (3, 2)  # tuples are nested lists too
    assert nested.shape([(1, 2)]) == (1, 2)


def test_flatten_is_row_major_through_lists_and_tuples():
    assert nested.flatten(5) == [5]
    assert nested.flatten([]) == []
    assert nested.flatten([[1, 2], [3, 4]]) == [1, 2, 3, 4]
    assert nested.flatten(((1, (2, 3)), [4])) == [1, 2, 3, 4]
    assert nested.flatten([[[1], [2]], [[3], [4]]]) == [1, 2, 3, 4]


def test_unflatten_inverts_flatten():
    assert nested.unflatten([9, 8], ()) == 9                # a scalar is the first element
    out = nested.unflatten((1, 2, 3), (3,))
    assert out == [1, 2, 3] and isinstance(out, list)
    assert nested.unflatten([1, 2, 3, 4, 5, 6], (2, 3)) == [[1, 2, 3], [4, 5, 6]]
    assert nested.unflatten([1, 2, 3, 4, 5, 6], (3, 2)) == [[1, 2], [3, 4], [5, 6]]
    assert nested.unflatten(list(range(8)), (2, 2, 2)) == [[[0, 1], [2, 3]], [[4, 5], [6, 7]]]
    assert nested.unflatten([1, 2], (2, 1)) == [[1], [2]]
    assert nested.unflatten([], (0, 3)) == []
    assert nested.unflatten([], (2, 0)) == [[], []]
    x = [[[1, 2, 3], [4, 5, 6]]]
    assert nested.unflatten(nested.flatten(x), nested.shape(x)) == x


def test_map_indexed_passes_each_element_its_index():
    assert nested.map_indexed(5, lambda v, i: (v, i)) == (5, ())
    assert nested.map_indexed([[1, 2], [3, 4]], lambda v, i: (v, i)) == [
        [(1, (0, 0)), (2, (0, 1))], [(3, (1, 0)), (4, (1, 1))]]
    assert nested.map_indexed((7, 8), lambda v, i: v * 10 + i[0]) == [70, 81]
    assert nested.map_indexed([], lambda v, i: v) == []
